"""The running parts of one service process: pool, producer, relay, broker; started in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from shared.consumer import ForeignFeed, InboxConsumer, subscribe
from shared.db import SHARED_MIGRATIONS, create_pool, migrate
from shared.eventstore import EventStore
from shared.kafka import ensure_topics, idempotent_producer
from shared.metrics import EVENTS_PUBLISHED
from shared.observe import Probe, Sampler
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.topics import Producer

log = structlog.get_logger(__name__)


@dataclass
class ServiceRuntime:
    """Everything a service process runs besides its HTTP routes."""

    service: Producer
    settings: ServiceSettings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    broker: KafkaBroker
    relay: OutboxRelay
    store: EventStore
    relay_task: asyncio.Task[None] | None = None
    consumer: InboxConsumer | None = None

    async def readiness(self) -> dict[str, bool]:
        """Whether the database, Kafka, the relay and the consumer (not held at a record it
        cannot park) are working."""
        checks = {"database": False, "kafka": False, "relay": False}
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                checks["database"] = await self.pool.fetchval("SELECT 1") == 1
        with contextlib.suppress(Exception):
            checks["kafka"] = await self.broker.ping(timeout=2)
        checks["relay"] = self.relay_task is not None and not self.relay_task.done()
        if self.consumer is not None:
            checks["consumer"] = not self.consumer.parking_failed
        return checks


@contextlib.asynccontextmanager
async def run_service(
    service: Producer,
    settings: ServiceSettings,
    migrations: Sequence[Path],
    feed: ForeignFeed | None = None,
    probes: Sequence[Probe] = (),
) -> AsyncIterator[ServiceRuntime]:
    """Start a service's parts in dependency order and stop them in reverse."""
    schema = settings.db_schema or service
    pool = await create_pool(settings.database_url, schema, max_size=settings.db_pool_size)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(pool.close)
        applied = await migrate(pool, SHARED_MIGRATIONS, *migrations)
        log.info("migrated", schema=schema, applied=applied)
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            partitions=settings.kafka_partitions,
            replication_factor=settings.kafka_replication_factor,
        )
        producer = idempotent_producer(settings.kafka_bootstrap_servers, f"shebao-{service}")
        await producer.start()
        stack.push_async_callback(producer.stop)
        store = EventStore(service)
        EVENTS_PUBLISHED.labels(store.topic)  # the series exists before the first event
        relay = OutboxRelay(
            pool, producer, store.channel, bootstrap_servers=settings.kafka_bootstrap_servers
        )
        broker = KafkaBroker(
            # A list: FastStream would take "a:1,b:2" for one host.
            settings.kafka_bootstrap_servers.split(","),
            client_id=f"shebao-{service}",
            security=settings.kafka_security().faststream(),
            logger=logging.getLogger("faststream"),
            # Per-record "Received"/"Processed" lines cost more than the work at catch-up
            # speed: they are debug output; our consumer logs what matters.
            log_level=logging.DEBUG,
        )
        runtime = ServiceRuntime(service, settings, pool, producer, broker, relay, store)
        if feed is not None:
            consumer = InboxConsumer.for_feed(
                feed,
                pool,
                producer,
                faults=settings.faults(),
                kafka=settings.kafka_bootstrap_servers,
            )
            subscribe(broker, feed.topics, consumer)
            runtime.consumer = consumer
        runtime.relay_task = asyncio.create_task(relay.run(), name=f"{service}-relay")
        stack.push_async_callback(_cancel, runtime.relay_task)
        sampler = Sampler(
            service,
            pool,
            settings.kafka_bootstrap_servers,
            leading=lambda: relay.leading,
            group=feed.group if feed is not None else None,
            topics=tuple(feed.topics) if feed is not None else (),
            probes=probes,
        )
        stack.push_async_callback(_cancel, asyncio.create_task(sampler.run(), name="sampler"))
        await broker.start()
        stack.push_async_callback(broker.stop)
        log.info("service_started", schema=schema)
        yield runtime
        log.info("service_stopping")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
