"""An operator sees what a group parked, redrives a record once its cause is fixed (its group
applies it, once) or skips it; every decision is kept beside the record."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from deploy.dead_letters import DeadLetterError, dead_letters, decide
from deploy.stack import Infrastructure, ServiceProcess
from shared.contracts.card import CardMailed
from shared.eventstore import Causation, EventStore
from shared.redrive import REDRIVE_REFUSED
from shared.topics import CARD_EVENTS, dead_letter_topic


async def _send(
    bootstrap: str, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
) -> tuple[int, int]:
    """One record on ``topic``; its partition and offset."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, key=key, value=value, headers=headers)
    finally:
        await producer.stop()
    return sent.partition, sent.offset


async def _park(bootstrap: str, group: str, key: bytes, value: bytes, event_type: str) -> str:
    """A record of card.events as the group's consumer parks it (its handler failed, say):
    the card service's record (typed so that no group takes it by itself), then the group's
    copy on its dead-letter topic naming it; the source as the operator sees it."""
    skipped = [("event_type", b"NotForAnyGroup"), ("schema_version", b"1")]
    partition, offset = await _send(bootstrap, CARD_EVENTS, key, value, skipped)
    await _send(
        bootstrap,
        dead_letter_topic(group),
        key,
        value,
        [
            ("event_type", event_type.encode()),
            ("schema_version", b"1"),
            ("dead_letter_reason", b"HANDLER_ERROR RuntimeError"),
            ("source_topic", CARD_EVENTS.encode()),
            ("source_partition", str(partition).encode()),
            ("source_offset", str(offset).encode()),
        ],
    )
    return f"{CARD_EVENTS}:{partition}:{offset}"


async def test_a_redriven_record_is_applied_by_its_group_once(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    del services  # running: their consumers read the dead-letter topics
    person = f"dl-{secrets.token_hex(6)}"
    event = CardMailed(card_id=f"card-{person}", courier="EMS", tracking_number="EMS1")
    envelope = EventStore("card").envelopes(
        f"card-{person}", 0, person, [event], Causation("t", "t")
    )[0]
    source = await _park(
        infra.bootstrap_servers, "activation", person.encode(), envelope.to_bytes(), "CardMailed"
    )
    conn = await asyncpg.connect(infra.database_url)

    async def applied() -> bool:
        found = await conn.fetchval(
            "SELECT count(*) FROM activation.inbox WHERE consumer_group = 'activation'"
            " AND event_id = $1",
            envelope.event_id,
        )
        return bool(found)

    try:
        parked = [d for d in await dead_letters(infra.bootstrap_servers, "activation")]
        letter = next(d for d in parked if d.source == source and d.state == "parked")
        await asyncio.sleep(2)
        assert not await applied()  # parked: nobody applies it

        await decide(
            infra.bootstrap_servers,
            "activation",
            letter.ref,
            "redrive",
            by="ops-wang",
            note="fixed",
        )
        for _ in range(150):
            if await applied():
                break
            await asyncio.sleep(0.1)
        assert await applied()
        after = {d.ref: d for d in await dead_letters(infra.bootstrap_servers, "activation")}
        assert (after[letter.ref].state, after[letter.ref].decided_by) == ("redriven", "ops-wang")
        with pytest.raises(DeadLetterError, match="already redriven"):
            await decide(
                infra.bootstrap_servers, "activation", letter.ref, "redrive", by="x", note="again"
            )
    finally:
        await conn.close()


async def test_a_record_that_fails_again_is_parked_again_not_looped_on(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    del services
    key = f"poison-{secrets.token_hex(6)}".encode()
    source = await _park(infra.bootstrap_servers, "identity", key, b"{not json", "CardMailed")
    letters = await dead_letters(infra.bootstrap_servers, "identity")
    letter = next(d for d in reversed(letters) if d.state == "parked" and d.source == source)
    await decide(infra.bootstrap_servers, "identity", letter.ref, "redrive", by="ops", note="try")

    async def count() -> int:
        return len(await dead_letters(infra.bootstrap_servers, "identity"))

    before = len(letters)
    for _ in range(100):
        if await count() == before + 1:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    now = await dead_letters(infra.bootstrap_servers, "identity")
    assert len(now) == before + 1  # parked again, once
    again = now[-1]
    assert (again.state, again.source, again.reason) == ("parked", source, "UNPARSEABLE not JSON")
    skipped = await decide(
        infra.bootstrap_servers, "identity", again.ref, "skip", by="ops", note="junk"
    )
    assert skipped.state == "skipped"


async def test_a_redrive_that_is_not_the_record_at_its_source_is_refused(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    # Whoever may write a dead-letter topic (the operator's decisions go there) cannot make a
    # group apply an event its producer never wrote: a redrive must carry the very record
    # found at its source; a forged one is parked, with the reason, and never applied.
    del services
    person = f"forged-{secrets.token_hex(6)}"
    real = CardMailed(card_id=f"card-{person}", courier="EMS", tracking_number="EMS1")
    forged = CardMailed(card_id=f"card-{person}", courier="EMS", tracking_number="EMS666")
    store = EventStore("card")
    [real_envelope] = store.envelopes(f"card-{person}", 0, person, [real], Causation("t", "t"))
    [forged_envelope] = store.envelopes(f"card-{person}", 0, person, [forged], Causation("t", "t"))
    source = await _park(
        infra.bootstrap_servers, "activation", person.encode(), real_envelope.to_bytes(), "x"
    )
    topic, partition, offset = source.split(":")
    redrive = [
        ("event_type", b"CardMailed"),
        ("schema_version", b"1"),
        ("dead_letter_action", b"redrive"),
        ("dead_letter_ref", b"0:0"),
        ("source_topic", topic.encode()),
        ("source_partition", partition.encode()),
        ("source_offset", offset.encode()),
    ]
    for value, headers in (
        (forged_envelope.to_bytes(), redrive),  # another content than its source's
        (forged_envelope.to_bytes(), [*redrive[:4], ("source_topic", b"card.events")]),
    ):
        await _send(infra.bootstrap_servers, dead_letter_topic("activation"), b"k", value, headers)
    conn = await asyncpg.connect(infra.database_url)
    try:
        for _ in range(100):
            letters = await dead_letters(infra.bootstrap_servers, "activation")
            refused = [d for d in letters if d.reason == REDRIVE_REFUSED]
            if len(refused) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len([d for d in refused if d.size == len(forged_envelope.to_bytes())]) >= 2
        for envelope in (forged_envelope, real_envelope):
            found = await conn.fetchval(
                "SELECT count(*) FROM activation.inbox WHERE event_id = $1", envelope.event_id
            )
            assert found == 0
    finally:
        await conn.close()


async def test_a_decision_needs_a_reason_and_a_real_record(infra: Infrastructure) -> None:
    with pytest.raises(DeadLetterError, match="no consumer group"):
        await dead_letters(infra.bootstrap_servers, "billing")
    with pytest.raises(DeadLetterError, match="say why"):
        await decide(infra.bootstrap_servers, "card", "0:0", "skip", by="ops", note=" ")
    with pytest.raises(DeadLetterError, match="no parked record"):
        await decide(infra.bootstrap_servers, "card", "0:999999", "skip", by="ops", note="x")


async def test_two_operators_deciding_at_once_take_one_decision(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    """A redrive and a skip of the same record at the same moment: one is taken, the other is
    told so; the record is never both applied and shown as skipped."""
    del services
    for round_ in range(3):
        key = f"race-{secrets.token_hex(6)}".encode()
        await _park(infra.bootstrap_servers, "card", key, b"{not json", "CardMailed")
        letters = await dead_letters(infra.bootstrap_servers, "card")
        letter = next(d for d in reversed(letters) if d.state == "parked")
        outcomes = await asyncio.gather(
            *(
                decide(infra.bootstrap_servers, "card", letter.ref, action, by=who, note="race")
                for action, who in (("redrive", "ops-li"), ("skip", "ops-zhao"))
            ),
            return_exceptions=True,
        )
        taken = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(taken) == 1, (round_, outcomes)
        assert [type(o) for o in refused] == [DeadLetterError], refused
        shown = {d.ref: d for d in await dead_letters(infra.bootstrap_servers, "card")}
        assert (shown[letter.ref].state, shown[letter.ref].decided_by) == (
            taken[0].state,
            taken[0].decided_by,
        )
