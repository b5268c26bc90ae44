"""When a version replaces one integrators read: the new code publishes each event in both
shapes (same event id; the old one after), reads old events as the new version, and the relay
tells the two apart when it reconciles after a crash."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import ClassVar

import asyncpg
import pytest
from pydantic import Field

from deploy.stack import Infrastructure
from shared.contracts import EventPayload, parse_payload, superseded_shape
from shared.contracts.compat import compatible
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.kafka import idempotent_producer
from shared.relay import OutboxRelay
from shared.topics import Producer
from tests.e2e.harness import read_records
from tests.service.schemas import schema_pool
from tests.service.test_event_spine import new_topics, store_on


class ParcelHandedOver(EventPayload):
    """Test only: a parcel handed to a courier (version 1: one free-text tracking field)."""

    event_type: ClassVar[str] = "TestParcelHandedOver"
    producer: ClassVar[Producer] = "card"

    tracking: str = Field(description="Courier and number, e.g. 'EMS 123'.")


class ParcelHandedOverV2(EventPayload):
    """Test only: version 2 splits the courier from its number (not readable as version 1)."""

    event_type: ClassVar[str] = "TestParcelHandedOver"
    schema_version: ClassVar[int] = 2
    producer: ClassVar[Producer] = "card"
    supersedes: ClassVar[type[EventPayload] | None] = ParcelHandedOver

    courier: str = Field(description="Courier company.")
    number: str = Field(description="The courier's tracking number.")

    def to_superseded(self) -> EventPayload:
        return ParcelHandedOver(tracking=f"{self.courier} {self.number}")

    @classmethod
    def from_superseded(cls, old: EventPayload) -> EventPayload:
        assert isinstance(old, ParcelHandedOver)
        courier, _, number = old.tracking.partition(" ")
        return cls(courier=courier, number=number)


@pytest.fixture
async def pool(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(infra, "superseded") as pool:
        yield pool


def test_the_new_version_is_not_readable_as_the_old_one() -> None:
    old, new = ParcelHandedOver.model_json_schema(), ParcelHandedOverV2.model_json_schema()
    assert compatible(old, new)  # hence a new schema_version, published beside the old


def test_an_old_event_is_read_as_the_version_that_replaced_it() -> None:
    [old] = EventStore("card").envelopes(
        "parcel-1", 0, "p1", [ParcelHandedOver(tracking="EMS 123")], Causation("t", "t")
    )
    assert parse_payload(old) == ParcelHandedOverV2(courier="EMS", number="123")
    assert superseded_shape(old) is None


async def test_each_event_is_published_in_both_shapes_with_one_id(
    infra: Infrastructure, pool: asyncpg.Pool
) -> None:
    topic = "superseded-test.events"
    await new_topics(infra.bootstrap_servers, topic)
    store = store_on(topic)
    envelopes = store.envelopes(
        "parcel-2",
        0,
        "p2",
        [ParcelHandedOverV2(courier="SF", number=str(n)) for n in range(3)],
        Causation("t", "t"),
    )
    async with pool.acquire() as conn, conn.transaction():
        await store.append(conn, envelopes)
        # The event store keeps the event once, in its own version.
        assert await conn.fetchval("SELECT count(*) FROM events") == 3
    producer = idempotent_producer(infra.bootstrap_servers, "superseded-test")
    await producer.start()
    relay = OutboxRelay(pool, producer, store.channel, bootstrap_servers=infra.bootstrap_servers)
    try:
        async with pool.acquire() as conn:
            assert await relay.publish_batch(conn) == 6
            # After a crash before the delete, reconciling finds both shapes of each published.
            await conn.execute(
                "INSERT INTO outbox (topic, message_key, event_type, schema_version, value)"
                " VALUES ($1, 'p2', 'TestParcelHandedOver', 1, $2)",
                topic,
                superseded_shape(envelopes[0]).to_bytes(),  # type: ignore[union-attr]
            )
            assert await relay.reconcile(conn) == 1
    finally:
        await producer.stop()
    records = await read_records(
        infra.bootstrap_servers, [topic], keep=lambda r: True, done=lambda rs: len(rs) >= 6
    )
    shapes = [(Envelope.from_bytes(r.value or b""), dict(r.headers)) for r in records]
    assert [(e.schema_version, h["schema_version"]) for e, h in shapes] == [(2, b"2")] * 3 + [
        (1, b"1")
    ] * 3
    by_id = {e.event_id for e, _ in shapes}
    assert by_id == {e.event_id for e in envelopes}
    olds = [e for e, _ in shapes if e.schema_version == 1]
    assert [o.payload for o in olds] == [{"tracking": f"SF {n}"} for n in range(3)]
    old_types = {h["ce_type"] for e, h in shapes if e.schema_version == 1}
    assert old_types == {b"cn.shebao.TestParcelHandedOver.v1"}
    assert json.loads(records[3].value or b"")["stream_version"] == 1
