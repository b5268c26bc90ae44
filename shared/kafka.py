"""Kafka plumbing: topic provisioning, the idempotent producer, reading a whole topic."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, TopicAuthorizationFailedError
from aiokafka.structs import ConsumerRecord
from faststream.security import BaseSecurity, SASLScram512
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.topics import all_topics

log = structlog.get_logger(__name__)

#: The topics are the log: never delete anything by age or size.
LOG_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
#: A dead letter is the source record plus a few headers: its topic and the producer take
#: records well above the largest an events topic accepts (1 MiB by the broker's default), so
#: parking a record can never fail on its size.
DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024
DEAD_LETTER_TOPIC_CONFIG = {**LOG_TOPIC_CONFIG, "max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}


#: Where Kafka is: a bootstrap list (this process's own credentials apply, see KafkaSecurity),
#: or aiokafka's whole client settings (another principal's).
Kafka = str | Mapping[str, Any]


#: Compose's development Kafka passwords all start so: production refuses them.
DEV_KAFKA_PASSWORD_PREFIX = "shebao-dev"  # noqa: S105 - what is refused


class KafkaSecurity(BaseSettings):
    """How this process authenticates to Kafka: as no one (the laptop's plaintext node) or as
    its own SASL/SCRAM-SHA-512 user, over TLS when the listener asks for it."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    username: str | None = Field(None, validation_alias="KAFKA_SASL_USERNAME")
    password: SecretStr | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD")
    ca_file: Path | None = Field(
        None,
        validation_alias="KAFKA_SSL_CAFILE",
        description="The CA that signed the brokers' certificates (SASL_SSL); unset, the system's.",
    )

    @model_validator(mode="after")
    def _credentials(self) -> KafkaSecurity:
        if self.protocol != "PLAINTEXT" and not (self.username and self.password):
            raise ValueError(f"{self.protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        return self

    def check_production(self) -> None:
        """Production authenticates to Kafka with a password of its own (ValueError if not)."""
        if self.protocol == "PLAINTEXT" or self.password is None:
            raise ValueError(
                "production needs KAFKA_SECURITY_PROTOCOL SASL_PLAINTEXT or SASL_SSL with the "
                "service's own KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        password = self.password.get_secret_value()
        if password.startswith(DEV_KAFKA_PASSWORD_PREFIX) or len(password) < 12:
            raise ValueError(
                "production needs a Kafka password of 12+ characters of its own (not compose's "
                "development one)"
            )

    def faststream(self) -> BaseSecurity | None:
        """The same, as FastStream's broker takes it."""
        if self.protocol == "PLAINTEXT" or self.username is None or self.password is None:
            return None
        tls = self.protocol == "SASL_SSL"
        context = ssl.create_default_context(cafile=self.ca_file) if tls else None
        return SASLScram512(
            self.username, self.password.get_secret_value(), ssl_context=context, use_ssl=tls
        )

    def options(self) -> dict[str, Any]:
        """The same, as aiokafka's clients take it."""
        from faststream.kafka.security import parse_security

        return parse_security(self.faststream())


@functools.cache
def kafka_security() -> KafkaSecurity:
    """This process's Kafka credentials (read once from its environment)."""
    return KafkaSecurity()


def client_options(kafka: Kafka) -> dict[str, Any]:
    """aiokafka client settings: a bootstrap list with this process's credentials, or the
    settings given."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka, **kafka_security().options()}
    return dict(kafka)


class TopicsNotCreated(RuntimeError):
    """Kafka refused to create platform topics (too few brokers for the replication factor, or
    a principal that may not: on a secured cluster the admin provisions them)."""

    def __init__(self, refused: dict[str, str]) -> None:
        said = "; ".join(f"{t}: {why}" for t, why in refused.items())
        super().__init__(f"Kafka refused to create topics: {said}")
        self.refused = refused


def topic_config(topic: str) -> dict[str, str]:
    """The configuration a platform topic is created with."""
    return DEAD_LETTER_TOPIC_CONFIG if topic.endswith(".dead-letter") else LOG_TOPIC_CONFIG


async def ensure_topics(kafka: Kafka, *, partitions: int, replication_factor: int) -> list[str]:
    """Create every platform topic that does not exist yet; return the ones created."""
    return await create_topics(
        kafka,
        all_topics(),
        partitions=partitions,
        replication_factor=replication_factor,
    )


async def create_topics(
    kafka: Kafka, topics: list[str], *, partitions: int, replication_factor: int
) -> list[str]:
    """Create those of ``topics`` that do not exist yet (kept forever); return them."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            new = [
                NewTopic(t, partitions, replication_factor, topic_configs=topic_config(t))
                for t in missing
            ]
            response = await admin.create_topics(new)
            refused = {
                topic: f"{' '.join(str(m) for m in said[:1] if m)} (error {code})".strip()
                for topic, code, *said in response.topic_errors
                if code not in (0, TopicAlreadyExistsError.errno)  # another service was first
            }
            if refused:
                raise TopicsNotCreated(refused)
            log.info("topics_created", topics=missing)
        # Dead-letter topics made before they took large records get the whole configuration
        # again (alter_configs replaces a topic's dynamic configuration as one). On a secured
        # cluster the admin provisions topics and a service may not alter them: kept as made.
        older = [t for t in topics if t in existing and t.endswith(".dead-letter")]
        if older:
            responses = await admin.alter_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, t, configs=DEAD_LETTER_TOPIC_CONFIG)
                    for t in older
                ]
            )
            said = [r for response in responses for r in response.resources]
            for code, _message, _type, topic in said:
                if code not in (0, TopicAuthorizationFailedError.errno):
                    log.warning("topic_config_refused", topic=topic, code=code)
        return missing
    finally:
        await admin.close()


def idempotent_producer(
    kafka: Kafka, client_id: str, *, transactional_id: str | None = None
) -> AIOKafkaProducer:
    """A producer that never duplicates or reorders within a partition (acks=all, idempotent);
    with a ``transactional_id``, one at a time: starting another with the same id fences it."""
    return AIOKafkaProducer(
        **client_options(kafka),
        client_id=client_id,
        transactional_id=transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        compression_type=None,
        # Large enough for a dead letter of the largest record an events topic accepts.
        max_request_size=DEAD_LETTER_MAX_BYTES + 64 * 1024,
    )


async def topic_partitions(kafka: Kafka, topic: str) -> list[int]:
    """A topic's partition numbers."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for t in described for p in t["partitions"])


async def read_topic(
    kafka: Kafka, topic: str, *, committed_only: bool = False
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from offset zero to its end now (no consumer group);
    ``committed_only`` leaves out what transactions wrote and did not commit."""
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(kafka, topic)]
    consumer = AIOKafkaConsumer(
        **client_options(kafka),
        enable_auto_commit=False,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        behind = {tp for tp in partitions if ends[tp] > 0}
        while behind:
            batches = await consumer.getmany(*behind, timeout_ms=500)
            records += [r for batch in batches.values() for r in batch]
            behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
        return records
    finally:
        await consumer.stop()


async def read_at(
    kafka: Kafka, topic: str, partition: int, offset: int
) -> ConsumerRecord[bytes, bytes] | None:
    """The record at ``topic:partition:offset`` (committed ones only), or None when there is
    none there."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        **client_options(kafka), enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
        records = batch.get(tp, [])
        return records[0] if records and records[0].offset == offset else None
    finally:
        await consumer.stop()
