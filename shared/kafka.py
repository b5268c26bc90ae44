"""Kafka plumbing: topic provisioning, the idempotent producer, reading a whole topic."""

from __future__ import annotations

import contextlib

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord

from shared.topics import all_topics

log = structlog.get_logger(__name__)

#: The topics are the log: never delete anything by age or size.
LOG_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
#: A dead letter is the source record plus a few headers: its topic and the producer take
#: records well above the largest an events topic accepts (1 MiB by the broker's default), so
#: parking a record can never fail on its size.
DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024
DEAD_LETTER_TOPIC_CONFIG = {**LOG_TOPIC_CONFIG, "max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}


def topic_config(topic: str) -> dict[str, str]:
    """The configuration a platform topic is created with."""
    return DEAD_LETTER_TOPIC_CONFIG if topic.endswith(".dead-letter") else LOG_TOPIC_CONFIG


async def ensure_topics(
    bootstrap_servers: str, *, partitions: int, replication_factor: int
) -> list[str]:
    """Create every platform topic that does not exist yet; return the ones created."""
    return await create_topics(
        bootstrap_servers,
        all_topics(),
        partitions=partitions,
        replication_factor=replication_factor,
    )


async def create_topics(
    bootstrap_servers: str, topics: list[str], *, partitions: int, replication_factor: int
) -> list[str]:
    """Create those of ``topics`` that do not exist yet (kept forever); return them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            new = [
                NewTopic(t, partitions, replication_factor, topic_configs=topic_config(t))
                for t in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
                await admin.create_topics(new)
            log.info("topics_created", topics=missing)
        # Dead-letter topics made before they took large records get the whole configuration
        # again (alter_configs replaces a topic's dynamic configuration as one).
        older = [t for t in topics if t in existing and t.endswith(".dead-letter")]
        if older:
            await admin.alter_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, t, configs=DEAD_LETTER_TOPIC_CONFIG)
                    for t in older
                ]
            )
        return missing
    finally:
        await admin.close()


def idempotent_producer(
    bootstrap_servers: str, client_id: str, *, transactional_id: str | None = None
) -> AIOKafkaProducer:
    """A producer that never duplicates or reorders within a partition (acks=all, idempotent);
    with a ``transactional_id``, one at a time: starting another with the same id fences it."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        transactional_id=transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        compression_type=None,
        # Large enough for a dead letter of the largest record an events topic accepts.
        max_request_size=DEAD_LETTER_MAX_BYTES + 64 * 1024,
    )


async def topic_partitions(bootstrap_servers: str, topic: str) -> list[int]:
    """A topic's partition numbers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for t in described for p in t["partitions"])


async def read_topic(
    bootstrap_servers: str, topic: str, *, committed_only: bool = False
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from offset zero to its end now (no consumer group);
    ``committed_only`` leaves out what transactions wrote and did not commit."""
    partitions = [
        TopicPartition(topic, p) for p in await topic_partitions(bootstrap_servers, topic)
    ]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
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
