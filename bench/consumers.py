"""Each service's real consumer and its rebuild on a benchmark topic, beside a raw aiokafka
consumer and asyncpg writing the same rows, and the rebuild's read ceiling."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Collection
from datetime import timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker

from bench.common import fresh_schema
from bench.workload import envelopes_for
from services.activation.consumers import feed as activation_feed
from services.card.consumers import feed as card_feed
from services.identity.consumers import feed as identity_feed
from services.notification.consumers import feed as notification_feed
from services.notification.settings import NotificationSettings
from shared import verified
from shared.consumer import BATCH_RECORDS, ForeignFeed, InboxConsumer, subscribe
from shared.envelope import Envelope, record_headers
from shared.eventstore import EventStore
from shared.kafka import Kafka, client_options, create_topics
from shared.rebuild import Projection, rebuild
from shared.records import read_record
from shared.topics import dead_letter_topic

SERVICES_DIR = Path(__file__).parents[1] / "services"


@dataclasses.dataclass
class ServiceFeed:
    """A service's consumer, pointed at a benchmark topic."""

    name: str
    feed: ForeignFeed
    projection: Callable[[ForeignFeed], Projection]
    migrations: list[Path]


def service_feeds() -> list[ServiceFeed]:
    """Each service's real consumer (its real handlers and tables)."""
    seal = timedelta(days=365)
    from services.activation.store import projection as activation_projection
    from services.card.store import projection as card_projection
    from services.identity.store import projection as identity_projection
    from services.notification.store import projection as notification_projection

    def migrations(service: str, *extra: Path) -> list[Path]:
        return [*extra, SERVICES_DIR / service / "migrations"]

    settings = NotificationSettings()
    return [
        ServiceFeed("identity", identity_feed(), identity_projection, migrations("identity")),
        ServiceFeed(
            "card",
            card_feed(seal),
            lambda f: card_projection(f, seal),
            migrations("card", verified.MIGRATIONS),
        ),
        ServiceFeed(
            "activation",
            activation_feed(),
            activation_projection,
            migrations("activation", verified.MIGRATIONS),
        ),
        ServiceFeed(
            "notification",
            notification_feed(EventStore("notification"), settings),
            notification_projection,
            migrations("notification"),
        ),
    ]


async def publish(kafka: Kafka, topic: str, envelopes: list[Envelope]) -> None:
    """Put the history on a topic (keyed by person, with the type headers)."""
    producer = AIOKafkaProducer(**client_options(kafka), linger_ms=10, acks=1)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                value=e.to_bytes(),
                key=e.person_id.encode(),
                headers=record_headers(e.event_type, e.schema_version),
            )
            for e in envelopes
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume_ours(
    database_url: str, bootstrap: str, service: ServiceFeed, topic: str, count: int
) -> tuple[float, asyncpg.Pool]:
    """events/s of the service's live consumer (FastStream, inbox, state change, offset
    commit) catching up on ``count`` events; the pool is left open for the rebuild."""
    pool = await fresh_schema(database_url, f"bench_{service.name}", *service.migrations)
    feed = dataclasses.replace(service.feed, topics=(topic,), group=f"bench-{service.name}")
    broker = KafkaBroker(bootstrap, client_id=f"bench-{service.name}", log_level=logging.DEBUG)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    subscribe(broker, feed.topics, InboxConsumer.for_feed(feed, pool, producer))
    # Timed from the first applied batch to the last: the group join is not the consumer.
    started = time.perf_counter()
    await broker.start()
    first: tuple[float, int] | None = None
    try:
        while (done := await pool.fetchval("SELECT count(*) FROM inbox")) < count:
            if first is None and done:
                first = (time.perf_counter(), done)
            if time.perf_counter() - started > 900:
                raise TimeoutError(f"{service.name} consumer did not catch up")
            await asyncio.sleep(0.02)
        t0, n0 = first if first and first[1] < count else (started, 0)
        return (count - n0) / (time.perf_counter() - t0), pool
    finally:
        await broker.stop()
        await producer.stop()


async def consume_raw(database_url: str, bootstrap: str, topic: str, count: int) -> float:
    """Baseline events/s: a raw aiokafka consumer and raw asyncpg writing the inbox row and
    one state row per event, a transaction per fetched batch, offsets committed after it."""
    pool = await fresh_schema(database_url, "bench_raw_consumer")
    await pool.execute("CREATE TABLE state (person_id text, event_type text, payload jsonb)")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{topic}-{time.monotonic_ns()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    started = time.perf_counter()
    await consumer.start()
    done = 0
    first: tuple[float, int] | None = None
    try:
        while done < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=BATCH_RECORDS)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            envelopes = [Envelope.from_bytes(r.value or b"") for r in records]
            async with pool.acquire() as conn, conn.transaction():
                await conn.executemany(
                    "INSERT INTO inbox (consumer_group, event_id) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING",
                    [("raw", e.event_id) for e in envelopes],
                )
                await conn.executemany(
                    "INSERT INTO state (person_id, event_type, payload) VALUES ($1, $2, $3)",
                    [
                        (e.person_id, e.event_type, e.model_dump_json(include={"payload"}))
                        for e in envelopes
                    ],
                )
            await consumer.commit()
            done += len(records)
            if first is None:
                first = (time.perf_counter(), done)  # timed like ours: from the first batch
        # All in the first batch (a small run): timed from the start instead.
        t0, n0 = first if first and first[1] < done else (started, 0)
        return (done - n0) / (time.perf_counter() - t0)
    finally:
        await consumer.stop()
        await pool.close()


#: At least this many records are read for each ceiling figure.
CEILING_EVENTS = 100_000


async def read_ceiling(
    bootstrap: str, topic: str, count: int, handles: Collection[str]
) -> tuple[float, float]:
    """events/s of one Python process only reading the topic from offset 0 with aiokafka, and
    reading and validating each record as a rebuild must (envelope and payload): the ceiling
    of a rebuild before it writes anything. The topic is read once first, so that neither
    timed pass pays for connecting."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:

        async def read_all(decode: bool) -> float:
            # A short topic is read several times over: a pass of a few hundredths of a
            # second would measure a handful of fetch round trips.
            done, started = 0, time.perf_counter()
            for _ in range(max(1, CEILING_EVENTS // count)):
                await consumer.seek_to_beginning()
                read = 0
                while read < count:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
                    for records in batches.values():
                        read += len(records)
                        if decode:
                            for record in records:
                                read_record(record.value, record.headers, handles)
                done += read
            return done / (time.perf_counter() - started)

        await read_all(decode=False)
        return await read_all(decode=False), await read_all(decode=True)
    finally:
        await consumer.stop()


async def rebuild_ours(
    pool: asyncpg.Pool, service: ServiceFeed, topic: str, bootstrap: str
) -> tuple[float, bool, int]:
    """events/s replaying the service's derived state from offset zero, whether the rebuilt
    state equals the live one, and the events replayed."""
    feed = dataclasses.replace(service.feed, topics=(topic,), group=f"bench-{service.name}")
    projection = service.projection(feed)
    started = time.perf_counter()
    report = await rebuild(pool, projection, bootstrap)
    elapsed = time.perf_counter() - started
    replayed = report.own_events + report.foreign_events
    return replayed / elapsed, report.matches, replayed


async def per_service(
    database_url: str, bootstrap: str, count: int
) -> list[dict[str, float | str | bool]]:
    """Per service: consumer events/s and rebuild events/s beside the raw baseline."""
    results: list[dict[str, float | str | bool]] = []
    for service in service_feeds():
        topic = f"bench.{service.name}.{time.monotonic_ns()}"
        # The bench group's dead-letter topic too: services never create topics on the fly.
        parked = dead_letter_topic(f"bench-{service.name}")
        await create_topics(bootstrap, [topic, parked], partitions=6, replication_factor=1)
        await publish(bootstrap, topic, envelopes_for(set(service.feed.handles), count))
        raw = await consume_raw(database_url, bootstrap, topic, count)
        ours, pool = await consume_ours(database_url, bootstrap, service, topic, count)
        try:
            rebuilt, matches, replayed = await rebuild_ours(pool, service, topic, bootstrap)
        finally:
            await pool.close()
        raw_replay = await consume_raw(database_url, bootstrap, topic, count)
        fetched, decoded = await read_ceiling(bootstrap, topic, count, service.feed.handles)
        results.append(
            {
                "service": service.name,
                "consumer": ours,
                "raw": raw,
                "rebuild": rebuilt,
                "raw_replay": raw_replay,
                "matches": matches,
                "replayed": replayed,
                "fetched": fetched,
                "decoded": decoded,
            }
        )
    return results
