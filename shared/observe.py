"""What an operator watches besides requests: the outbox backlog and its oldest event, who is
the active relay, each consumer group's lag per partition, and a service's own queues (the
notification queue, due card timers), sampled every few seconds into Prometheus gauges
served at ``/metrics``. Every series exists from the start, at zero, so alert rules see it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from shared.db import Connection
from shared.kafka import client_options

log = structlog.get_logger()

OUTBOX_BACKLOG = Gauge(
    "shebao_outbox_backlog", "Events stored and not yet published by the relay", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "shebao_outbox_oldest_age_seconds",
    "Age of the oldest event not yet published (0 when none; alert when it grows)",
    ["service"],
)
RELAY_LEADER = Gauge(
    "shebao_relay_leader", "1 while this process is the service's active outbox relay", ["service"]
)
CONSUMER_LAG = Gauge(
    "shebao_consumer_lag",
    "Records on a partition the consumer group has not yet committed",
    ["group", "topic", "partition"],
)

#: A service's own sample: reads its tables and sets its gauges.
Probe = Callable[[Connection], Awaitable[None]]


@dataclass
class Sampler:
    """Samples the gauges every ``interval_s`` until cancelled; a fault skips one round."""

    service: str
    pool: asyncpg.Pool
    bootstrap_servers: str
    leading: Callable[[], bool]
    group: str | None = None
    topics: Sequence[str] = ()
    probes: Sequence[Probe] = ()
    interval_s: float = 5.0
    _kafka: AIOKafkaAdminClient | None = field(default=None, repr=False)
    _ends: AIOKafkaConsumer | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        OUTBOX_BACKLOG.labels(self.service).set(0)
        OUTBOX_OLDEST_AGE.labels(self.service).set(0)
        RELAY_LEADER.labels(self.service).set(0)

    async def run(self) -> None:
        """Sample until cancelled; a round that fails (the database or Kafka away) is skipped
        and the gauges keep their last values."""
        try:
            while True:
                try:
                    async with asyncio.timeout(self.interval_s * 2):
                        await self.sample()
                except Exception as exc:
                    log.debug("sample_skipped", error=type(exc).__name__)
                await asyncio.sleep(self.interval_s)
        finally:
            if self._kafka is not None:
                await self._kafka.close()
            if self._ends is not None:
                await self._ends.stop()

    async def sample(self) -> None:
        """One round: the outbox, the relay, the service's probes, the group's lag."""
        RELAY_LEADER.labels(self.service).set(1 if self.leading() else 0)
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT count(*) AS backlog,"
                " coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age FROM outbox"
            )
            if row is not None:
                OUTBOX_BACKLOG.labels(self.service).set(row["backlog"])
                OUTBOX_OLDEST_AGE.labels(self.service).set(float(row["age"]))
            for probe in self.probes:
                await probe(conn)
        if self.group is not None and self.topics:
            await self._sample_lag(self.group)

    async def _sample_lag(self, group: str) -> None:
        if self._kafka is None:
            self._kafka = AIOKafkaAdminClient(**client_options(self.bootstrap_servers))
            await self._kafka.start()
        if self._ends is None:
            self._ends = AIOKafkaConsumer(**client_options(self.bootstrap_servers))
            await self._ends.start()
        described = await self._kafka.describe_topics(list(self.topics))
        partitions = [
            TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
        ]
        committed = await self._kafka.list_consumer_group_offsets(group)
        ends = await self._ends.end_offsets(partitions)
        for tp in partitions:
            done = committed.get(tp)
            start = done.offset if done is not None and done.offset >= 0 else 0
            lag = max(ends[tp] - start, 0)
            CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(lag)
