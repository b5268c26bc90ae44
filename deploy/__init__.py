"""The local stack (Kafka from Maven Central, embedded PostgreSQL) and the shebao command."""
