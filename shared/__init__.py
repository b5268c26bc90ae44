"""The project's library: event contracts, envelope, topics, event store, Kafka and logging."""
