"""The event spine on the real database and broker: append, relay, inbox, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from deploy.stack import Infrastructure
from shared.consumer import InboxConsumer, subscribe
from shared.contracts import EventPayload
from shared.contracts.card import CardMailed
from shared.db import Connection
from shared.envelope import Envelope
from shared.eventstore import Causation, ConcurrencyError, EventStore
from shared.kafka import idempotent_producer
from shared.redrive import DEAD_LETTER_REASON_HEADER
from shared.relay import OutboxRelay
from tests.e2e.harness import read_records
from tests.service.schemas import schema_pool


@pytest.fixture
async def pool(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(infra, "spine") as pool:
        yield pool


async def new_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 3, 1) for n in names])
    finally:
        await admin.close()


def mailed(n: int) -> CardMailed:
    return CardMailed(card_id=f"c{n}", courier="EMS", tracking_number=f"EMS{n:08d}")


async def private_store(infra: Infrastructure) -> tuple[str, EventStore]:
    """A new topic of its own, and an event store publishing to it."""
    topic = f"spine-{secrets.token_hex(4)}.events"
    await new_topics(infra.bootstrap_servers, topic)
    return topic, store_on(topic)


def store_on(topic: str) -> EventStore:
    store = EventStore("card")
    store.topic = topic  # a private topic, so the running services never see test events
    return store


async def append(
    pool: asyncpg.Pool, store: EventStore, stream: str, version: int, *events: EventPayload
) -> list[Envelope]:
    envelopes = store.envelopes(stream, version, f"person-{stream}", events, Causation("t", "t"))
    async with pool.acquire() as conn, conn.transaction():
        await store.append(conn, envelopes)
    return envelopes


async def test_a_concurrent_writer_loses_with_a_conflict(pool: asyncpg.Pool) -> None:
    store = store_on("unused")
    await append(pool, store, "s", 0, mailed(1))
    with pytest.raises(ConcurrencyError):
        await append(pool, store, "s", 0, mailed(2))
    async with pool.acquire() as conn:
        history = await store.load(conn, "s")
        assert [e.payload["card_id"] for e in history] == ["c1"]
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1


async def test_events_and_outbox_roll_back_together(pool: asyncpg.Pool) -> None:
    store = store_on("unused")

    async def fail_after_append(conn: Connection) -> None:
        envelopes = store.envelopes("s", 0, "p", [mailed(1)], Causation("t", "t"))
        await store.append(conn, envelopes)
        raise RuntimeError("the state change failed")

    with contextlib.suppress(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await fail_after_append(conn)
    assert await pool.fetchval("SELECT count(*) FROM events") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_the_relay_publishes_every_event_once_in_stream_order(
    infra: Infrastructure, pool: asyncpg.Pool
) -> None:
    topic, store = await private_store(infra)

    async def writer(stream: str) -> None:
        for version in range(0, 20, 2):
            await append(pool, store, stream, version, mailed(version), mailed(version + 1))

    producer = idempotent_producer(infra.bootstrap_servers, "spine-test")
    await producer.start()
    relay = OutboxRelay(
        pool, producer, store.channel, bootstrap_servers=infra.bootstrap_servers, batch_size=7
    )
    relaying = asyncio.create_task(relay.run())
    try:
        await asyncio.gather(*(writer(f"stream{n}") for n in range(8)))
        records = await read_records(
            infra.bootstrap_servers, [topic], keep=lambda r: True, done=lambda k: len(k) >= 160
        )
    finally:
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relaying
        await producer.stop()
    versions: dict[str, list[int]] = defaultdict(list)
    for record in records:
        envelope = Envelope.from_bytes(record.value or b"")
        assert record.key == envelope.person_id.encode()
        versions[envelope.stream_id].append(envelope.stream_version)
    assert {s: v for s, v in versions.items()} == {
        f"stream{n}": list(range(1, 21)) for n in range(8)
    }
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_rows_kafka_got_before_a_crash_are_not_published_again(
    infra: Infrastructure, pool: asyncpg.Pool
) -> None:
    # The process (or the database) dies after Kafka acknowledged a batch and before the rows
    # were deleted: the relay that takes over publishes each event once all the same.
    topic, store = await private_store(infra)
    for n in range(5):
        await append(pool, store, f"stream{n}", 0, mailed(1), mailed(2))
    producer = idempotent_producer(infra.bootstrap_servers, "spine-test")
    await producer.start()
    relay = OutboxRelay(
        pool, producer, store.channel, bootstrap_servers=infra.bootstrap_servers, batch_size=4
    )
    try:
        async with pool.acquire() as conn:
            crashed = conn.transaction()
            await crashed.start()
            assert await relay.publish_batch(conn) == 4  # in Kafka; the delete is lost
            await crashed.rollback()
            assert await pool.fetchval("SELECT count(*) FROM outbox") == 10
            relaying = asyncio.create_task(relay.run())
            records = await read_records(
                infra.bootstrap_servers, [topic], keep=lambda r: True, done=lambda k: len(k) >= 10
            )
            relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relaying
    finally:
        await producer.stop()
    ids = [Envelope.from_bytes(r.value or b"").event_id for r in records]
    assert len(ids) == len(set(ids)) == 10
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_poison_message_is_dead_lettered_and_the_consumer_carries_on(
    infra: Infrastructure, pool: asyncpg.Pool
) -> None:
    group = f"spine{secrets.token_hex(4)}"
    topic = f"{group}-in"
    await new_topics(infra.bootstrap_servers, topic, f"{group}.dead-letter")
    applied: list[str] = []

    async def apply(conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
        applied.append(str(envelope.event_id))

    producer = idempotent_producer(infra.bootstrap_servers, "spine-test")
    await producer.start()
    broker = KafkaBroker(infra.bootstrap_servers)
    consumer = InboxConsumer(pool, group, {"CardMailed"}, apply, producer)
    subscribe(broker, [topic], consumer)
    good = store_on(topic).envelopes("s", 0, "p1", [mailed(1)], Causation("t", "t"))[0]
    broken = json.loads(good.to_bytes()) | {"payload": {"card_id": "c1"}}
    try:
        await broker.start()
        for value in (b"not json", json.dumps(broken).encode(), good.to_bytes(), good.to_bytes()):
            await producer.send_and_wait(topic, value=value, key=b"p1")
        dead = await read_records(
            infra.bootstrap_servers,
            [f"{group}.dead-letter"],
            keep=lambda r: True,
            done=lambda k: len(k) >= 2,
        )
        for _ in range(100):
            if applied:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
    finally:
        await broker.stop()
        await producer.stop()
    reasons = [dict(r.headers)[DEAD_LETTER_REASON_HEADER].decode() for r in dead]
    assert reasons == [
        "UNPARSEABLE not JSON",
        "CONTRACT_VIOLATION payload.courier:missing, payload.tracking_number:missing",
    ]
    assert [r.value for r in dead] == [b"not json", json.dumps(broken).encode()]
    assert applied == [str(good.event_id)], "applied once, although delivered twice"


class _Gateway:
    """A dead-letter producer that refuses until told otherwise."""

    def __init__(self) -> None:
        self.failing = True
        self.sent: list[bytes] = []

    async def send_and_wait(self, topic: str, **record: object) -> None:
        if self.failing:
            raise OSError("broker refused the dead letter")
        self.sent.append(record["value"])  # type: ignore[arg-type]


async def test_a_consumer_that_cannot_park_holds_says_so_and_goes_on_once_it_can(
    pool: asyncpg.Pool,
) -> None:
    from aiokafka.structs import ConsumerRecord
    from prometheus_client import REGISTRY

    group = f"hold{secrets.token_hex(3)}"
    gateway = _Gateway()
    consumer = InboxConsumer(
        pool,
        group,
        {"CardMailed"},
        lambda *_: None,
        gateway,
        max_backoff_s=0.01,  # type: ignore[arg-type]
    )
    poison = ConsumerRecord(
        "card.events", 0, 7, 0, 0, b"p1", b"not json", None, 8, 8, [("event_type", b"CardMailed")]
    )
    message = type("Message", (), {"raw_message": (poison,)})()

    def held() -> float | None:
        return REGISTRY.get_sample_value("shebao_consumer_held", {"group": group})

    assert held() == 0
    with pytest.raises(OSError, match="refused"):  # not acknowledged: delivered again
        await consumer.handle(message)  # type: ignore[arg-type]
    assert consumer.parking_failed
    assert held() == 1
    gateway.failing = False
    await consumer.handle(message)  # type: ignore[arg-type]
    assert (consumer.parking_failed, held(), gateway.sent) == (False, 0, [b"not json"])
