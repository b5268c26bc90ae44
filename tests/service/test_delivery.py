"""Delivery over real channels: a real HTTP sink (SMS, push) and a real SMTP server on
loopback, a real PostgreSQL, a real Kafka for dead letters."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from services.notification.deliveries import Claimed
from services.notification.dispatcher import SimulatedCrashError
from services.notification.errors import NotFailedError
from services.notification.handlers import NotificationHandlers
from services.notification.templates import TEMPLATES
from shared.consumer import NOTIFICATION_ID_HEADER
from shared.contracts import REGISTRY
from shared.contracts.card import CardMailed, CardReportedLost
from shared.envelope import utc_now
from shared.eventstore import EventStore
from shared.settings import ServiceSettings
from shared.topics import dead_letter_topic
from tests.service.delivery_kit import CAUSE, EMAIL, PHONE, Delivery, registered
from tests.unit.test_templates import SAMPLES

ALL = ["app_push", "sms", "email"]


def mailed(n: int = 1) -> CardMailed:
    return CardMailed(card_id=f"c{n}", courier="EMS", tracking_number=f"EMS{n:05d}")


def _sealed_for(person_id: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A one-time code sealed for the person as activation seals it (the dev message key)."""
    if event_type != "SmsCodeIssued":
        return payload
    keys = ServiceSettings().messages()
    code_id = payload["code_id"]
    return {
        **payload,
        "key_id": keys.current,
        "expires_at": (utc_now() + timedelta(minutes=5)).isoformat(),
        "sealed_code": keys.seal(person_id, f"sms_code:{code_id}", "135790"),
    }


def person() -> str:
    return f"p-{secrets.token_hex(6)}"


@pytest.mark.parametrize("language", ["zh-Hans", "en"])
async def test_every_message_type_reaches_every_channel_in_the_chosen_language(
    delivery: Delivery, language: str
) -> None:
    who = person()
    await delivery.tell(registered("123X"), who, producer="identity")
    await delivery.choose(who, ALL, language=language)
    for event_type, payload in SAMPLES.items():
        model = REGISTRY[(event_type, 1)]
        await delivery.tell(model.model_validate(_sealed_for(who, event_type, payload)), who)
    await delivery.drain(delivery.dispatcher())

    expected = 0
    for kind, channel, to in (
        ("sms", "sms", PHONE),
        ("push", "app_push", who),
        ("email", "email", EMAIL),
    ):
        got = [m for m in delivery.sink.client.messages(kind) if m["to"] == to]
        by = [t for t in TEMPLATES.values() if t.channels is None or channel in t.channels]
        assert len(got) == len(by), kind
        expected += len(by)
        for message in got:
            assert "123X" in message["text"]  # the tail of the ID number, never more
            assert message["text"].isascii() == (language == "en"), message["text"]
            assert "{sms_code}" not in message["text"], "a code is filled in when sent"
    sent = await delivery.events("NotificationSent")
    assert len(sent) == expected
    assert {e["language"] for e in sent} == {language}


async def test_a_redelivered_event_sends_nothing_twice(delivery: Delivery) -> None:
    who = person()
    await delivery.choose(who, ["sms", "email"])
    envelope = await delivery.tell(mailed(), who)
    await delivery.redeliver(envelope)  # Kafka redelivers: the inbox skips it
    dispatcher = delivery.dispatcher()
    await delivery.drain(dispatcher)
    await delivery.drain(dispatcher)
    # Even past the inbox (a rebuild replays it), the event's stream says it was decided.
    await delivery.pool.execute("DELETE FROM inbox")
    await delivery.redeliver(envelope)
    await delivery.drain(dispatcher)

    assert len(delivery.sink.client.messages("sms")) == 1
    assert len(delivery.sink.client.messages("email")) == 1
    assert len(await delivery.events("NotificationScheduled")) == 2
    assert len(await delivery.events("NotificationSent")) == 2


async def test_a_gateway_failing_twice_then_succeeding_delivers_once(delivery: Delivery) -> None:
    who = person()
    await delivery.choose(who, ["sms"])
    delivery.sink.client.fail_next("sms", 2, status=503)
    await delivery.tell(mailed(), who)
    await delivery.drain(delivery.dispatcher(max_attempts=5))

    assert len(delivery.sink.client.messages("sms")) == 1
    assert delivery.sink.client.stats()["requests"]["sms"] == 3
    [row] = await delivery.rows(who)
    assert (row["status"], row["attempts"]) == ("sent", 3)
    outcomes = await delivery.pool.fetch(
        "SELECT outcome, detail FROM delivery_attempts ORDER BY started_at"
    )
    assert [o["outcome"] for o in outcomes] == ["transient_error", "transient_error", "sent"]
    assert outcomes[0]["detail"] == "GATEWAY_HTTP_503"
    assert len(await delivery.events("NotificationSent")) == 1


async def test_a_gateway_that_keeps_failing_ends_in_failed_and_a_dead_letter_retry_delivers_once(
    delivery: Delivery,
) -> None:
    who = person()
    await delivery.choose(who, ["sms"])
    delivery.sink.client.fail_next("sms", 100, status=502)
    await delivery.tell(mailed(), who)
    dispatcher = delivery.dispatcher(max_attempts=3)
    await delivery.drain(dispatcher)

    [failed] = await delivery.events("NotificationFailed")
    assert failed["attempts"] == 3
    assert failed["reason"] == "RETRIES_EXHAUSTED GATEWAY_HTTP_502"
    assert PHONE not in json.dumps(failed)
    nid = failed["notification_id"]
    letter = await _dead_letter_of(delivery, nid)
    assert json.loads(letter)["reason"] == "RETRIES_EXHAUSTED GATEWAY_HTTP_502"
    assert PHONE.encode() not in letter

    delivery.sink.client.fail_next("sms", 0)
    handlers = NotificationHandlers(delivery.pool, EventStore("notification"), delivery.settings())
    await handlers.retry_failed(nid, "operator-1", CAUSE)
    await delivery.drain(dispatcher)
    with pytest.raises(NotFailedError):  # the same dead letter replayed again: refused
        await handlers.retry_failed(nid, "operator-1", CAUSE)
    await delivery.drain(dispatcher)

    assert len(delivery.sink.client.messages("sms")) == 1
    assert len(await delivery.events("NotificationRetried")) == 1
    assert len(await delivery.events("NotificationSent")) == 1


async def test_a_refusal_for_good_fails_at_once(delivery: Delivery) -> None:
    who = person()
    await delivery.choose(who, ["sms"])
    delivery.sink.client.fail_next("sms", 1, status=400)
    await delivery.tell(mailed(), who)
    await delivery.drain(delivery.dispatcher(max_attempts=5))
    [failed] = await delivery.events("NotificationFailed")
    assert (failed["attempts"], failed["reason"]) == (1, "GATEWAY_REFUSED_HTTP_400")


async def test_a_crash_between_send_and_record_never_duplicates_where_the_gateway_dedupes(
    delivery: Delivery,
) -> None:
    who = person()
    await delivery.choose(who, ["sms", "email"])
    await delivery.tell(mailed(), who)

    def crash(_: Claimed) -> None:
        raise SimulatedCrashError

    for _ in range(2):  # one message per round: each is sent, then the process "dies"
        with pytest.raises(SimulatedCrashError):
            await delivery.dispatcher(after_send=crash, dispatch_batch=1).dispatch_due()
    assert len(delivery.sink.client.messages()) == 2  # both gateways took them; nothing recorded

    # The restarted service finds claims nobody recorded once their lease is over.
    await delivery.drain(delivery.dispatcher(lease_s=0.001))

    assert len(delivery.sink.client.messages("sms")) == 1  # the Idempotency-Key held
    assert delivery.sink.client.stats()["duplicates"]["sms"] == 1
    assert len(delivery.sink.client.messages("email")) == 2  # SMTP cannot dedupe...
    rows = {r["channel"]: r for r in await delivery.rows(who)}
    assert not rows["sms"]["possible_duplicate"]
    assert rows["email"]["possible_duplicate"]  # ...so it is logged as at most one duplicate
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert len(await delivery.events("NotificationSent")) == 2


async def test_opt_out_and_rate_limit_hold_optional_messages_never_required_ones(
    delivery: Delivery,
) -> None:
    quiet, busy = person(), person()
    await delivery.choose(quiet, ["sms"], optional_messages=False)
    await delivery.tell(mailed(), quiet)
    lost = CardReportedLost(card_id="c1", kind="formal", channel="window", expires_at=None)
    await delivery.tell(lost, quiet)
    await delivery.choose(busy, ["sms"], phone="13800000001")
    for n in range(8):
        await _tell_limited(delivery, mailed(n), busy)
    await _tell_limited(delivery, lost, busy)
    await delivery.drain(delivery.dispatcher())

    quiet_rows = {r["template"]: r["status"] for r in await delivery.rows(quiet)}
    assert quiet_rows == {"card_mailed": "suppressed", "card_reported_lost": "sent"}
    busy_rows = await delivery.rows(busy)
    statuses = [r["status"] for r in busy_rows if r["template"] == "card_mailed"]
    assert statuses.count("sent") == 3
    assert statuses.count("suppressed") == 5
    assert [r["status"] for r in busy_rows if r["template"] == "card_reported_lost"] == ["sent"]
    texts = [m["text"] for m in delivery.sink.client.messages("sms") if m["to"] == "13800000001"]
    assert len(texts) == 4


async def _tell_limited(delivery: Delivery, about: CardMailed | CardReportedLost, who: str) -> None:
    """Consume an event with a rate limit of 3 optional messages per window."""
    store = EventStore("card")
    [envelope] = store.envelopes(f"s-{secrets.token_hex(4)}", 0, who, [about], CAUSE)
    await delivery.redeliver(envelope, rate_limit=3)


async def _dead_letter_of(delivery: Delivery, nid: str) -> bytes:
    consumer = AIOKafkaConsumer(
        dead_letter_topic("notification"),
        bootstrap_servers=delivery.infra.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        for _ in range(50):
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if (NOTIFICATION_ID_HEADER, nid.encode()) in (record.headers or ()):
                        return record.value or b""
    finally:
        await consumer.stop()
    raise AssertionError("no dead letter for the failed message")
