"""A record no consumer can read stops nothing: even the largest an events topic accepts is
parked in each consuming group's dead-letter topic (sized above it), and the platform goes on."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from deploy.stack import Infrastructure, ServiceProcess
from shared.contracts.card import CardMailed
from shared.eventstore import Causation, EventStore
from shared.topics import CARD_EVENTS, dead_letter_topic
from tests.e2e.harness import read_records
from tests.e2e.paying import Paying

#: The broker takes a batch of 1,048,588 bytes on an events topic by default: the test finds
#: the largest record it takes, then a dead letter of it (a few headers more) is larger still.
FROM, STEP = 1_048_588, 8


async def test_the_largest_record_a_topic_takes_is_parked_and_the_platform_goes_on(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    marker = secrets.token_hex(8)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.bootstrap_servers, max_request_size=2 * 1024 * 1024
    )
    await producer.start()
    size = FROM
    try:
        while True:  # the largest record the topic accepts
            try:
                await producer.send_and_wait(
                    CARD_EVENTS,
                    key=f"poison-{marker}".encode(),
                    value=b"{" + b"x" * (size - 1),
                    headers=[("event_type", b"CardMailed"), ("schema_version", b"1")],
                )
                break
            except MessageSizeTooLargeError:
                size -= STEP
    finally:
        await producer.stop()
    assert size > 1_048_400, size
    groups = ("identity", "activation", "notification")  # the groups that read card.events
    parked = await read_records(
        infra.bootstrap_servers,
        [dead_letter_topic(g) for g in groups],
        keep=lambda r: r.key == f"poison-{marker}".encode(),
        done=lambda kept: {r.topic for r in kept} == {dead_letter_topic(g) for g in groups},
        timeout_s=60,
    )
    assert {r.topic for r in parked} == {dead_letter_topic(g) for g in groups}
    assert all(len(r.value or b"") == size for r in parked)
    # Every service still answers ready, and a card still goes from application to paying.
    async with httpx.AsyncClient(timeout=60) as client:
        for name in ("identity", "card", "activation", "notification"):
            ready = await client.get(f"{services[name].url}/ready")
            assert ready.status_code == 200, ready.text
        citizen = await Paying(client, services).ready(321)
        assert (await citizen.settle())["outcome"] == "authorized"


async def test_a_record_whose_headers_are_not_utf8_is_parked_not_passed_over(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    # FastStream decodes headers before a handler sees the record: such a record used to be
    # skipped unseen by every group, its offset committed past.
    marker = secrets.token_hex(8)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await producer.start()
    try:
        for n, headers in enumerate(
            [
                [("event_type", b"CardApplied"), ("schema_version", b"\xff")],
                [("event_type", b"Card\xffApplied"), ("schema_version", b"1")],
            ]
        ):
            await producer.send_and_wait(
                CARD_EVENTS, key=f"bad-header-{n}-{marker}".encode(), value=b"{}", headers=headers
            )
    finally:
        await producer.stop()
    groups = ("identity", "activation", "notification")
    parked = await read_records(
        infra.bootstrap_servers,
        [dead_letter_topic(g) for g in groups],
        keep=lambda r: (r.key or b"").endswith(marker.encode()),
        done=lambda kept: len(kept) >= 6,
        timeout_s=60,
    )
    assert sorted((r.topic, r.key) for r in parked) == sorted(
        (dead_letter_topic(g), f"bad-header-{n}-{marker}".encode()) for g in groups for n in (0, 1)
    )
    reasons = {r.key: dict(r.headers)["dead_letter_reason"] for r in parked}
    # An unreadable event type parks the record; the value {} is no envelope either.
    assert reasons[f"bad-header-1-{marker}".encode()] == (
        b"CONTRACT_VIOLATION headers.event_type:not_utf8"
    )
    assert reasons[f"bad-header-0-{marker}".encode()].startswith(b"CONTRACT_VIOLATION event_id")


async def test_an_event_whose_trace_header_is_not_utf8_is_applied_all_the_same(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    """Only what decides how to read an event can make it unreadable: a broken traceparent
    (a header nobody needs to apply it) does not."""
    del services
    person = f"trace-{secrets.token_hex(6)}"
    event = CardMailed(card_id=f"card-{person}", courier="EMS", tracking_number="EMS1")
    [envelope] = EventStore("card").envelopes(
        f"card-{person}", 0, person, [event], Causation("t", "t")
    )
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            CARD_EVENTS,
            key=person.encode(),
            value=envelope.to_bytes(),
            headers=[*envelope.kafka_headers(), ("traceparent", b"\xff\xfe\xfd")],
        )
    finally:
        await producer.stop()
    conn = await asyncpg.connect(infra.database_url)
    try:
        for _ in range(300):
            applied = await conn.fetchval(
                "SELECT count(*) FROM activation.inbox WHERE event_id = $1", envelope.event_id
            )
            if applied:
                break
            await asyncio.sleep(0.1)
        assert applied == 1
    finally:
        await conn.close()
