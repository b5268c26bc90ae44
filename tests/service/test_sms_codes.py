"""One-time SMS codes on the real database with a clock: 5 minutes, 5 tries, once, one a
minute; only a keyed hash is stored, and the event carries the code sealed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from deploy.stack import Infrastructure
from services.activation.errors import (
    SmsCodeExpiredError,
    SmsCodeLockedError,
    SmsCodeTooSoonError,
    SmsCodeUsedError,
    SmsCodeWrongError,
)
from services.activation.password.sms_codes import SmsCodes
from shared import verified
from shared.envelope import utc_now
from shared.eventstore import Causation, EventStore
from shared.facts import FactsKeys, parse_keys
from tests.service.schemas import schema_pool
from tests.service.test_card_timers import Clock

MIGRATIONS = Path(__file__).parents[2] / "services" / "activation" / "migrations"
CAUSE = Causation("test", "test", actor="tester", channel="citizen_app")
KEYS = FactsKeys(parse_keys({}, production=False, setting="SHEBAO_MESSAGE_KEYS"))


@pytest.fixture
async def pool(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(infra, "sms", verified.MIGRATIONS, MIGRATIONS) as pool:
        yield pool


async def sent_code(pool: asyncpg.Pool, code_id: str, person: str) -> str:
    """What the SMS would say: the code opened from the event, as the notifier opens it."""
    payload = await pool.fetchval(
        "SELECT envelope->'payload' FROM events WHERE event_type = 'SmsCodeIssued'"
        " AND envelope->'payload'->>'code_id' = $1",
        code_id,
    )
    issued = json.loads(payload)
    return KEYS.open(issued["key_id"], person, f"sms_code:{code_id}", issued["sealed_code"])


async def test_a_code_lives_five_minutes_five_tries_once(pool: asyncpg.Pool) -> None:
    clock = Clock(utc_now())
    codes = SmsCodes(pool, EventStore("activation"), KEYS, clock)
    first = await codes.issue("p1", CAUSE)
    code = await sent_code(pool, first.code_id, "p1")
    assert len(code) == 6
    assert code.isdigit()
    stored = await pool.fetchval(
        "SELECT code_hash FROM sms_codes WHERE code_id = $1", first.code_id
    )
    assert len(stored) == 64  # an HMAC-SHA256 of it, never the code
    with pytest.raises(SmsCodeTooSoonError):
        await codes.issue("p1", CAUSE)
    with pytest.raises(SmsCodeWrongError):
        await codes.use("p2", first.code_id, code)  # another person's code
    clock.now += timedelta(minutes=5)
    with pytest.raises(SmsCodeExpiredError):
        await codes.use("p1", first.code_id, code)

    second = await codes.issue("p1", CAUSE)  # a minute has passed
    right = await sent_code(pool, second.code_id, "p1")
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(4):
        with pytest.raises(SmsCodeWrongError):
            await codes.use("p1", second.code_id, wrong)
    with pytest.raises(SmsCodeLockedError):
        await codes.use("p1", second.code_id, wrong)
    with pytest.raises(SmsCodeLockedError):
        await codes.use("p1", second.code_id, right)  # five wrong tries: dead

    clock.now += timedelta(minutes=1)
    third = await codes.issue("p1", CAUSE)
    good = await sent_code(pool, third.code_id, "p1")
    await codes.use("p1", third.code_id, good)
    with pytest.raises(SmsCodeUsedError):
        await codes.use("p1", third.code_id, good)


async def test_a_new_code_replaces_the_one_before(pool: asyncpg.Pool) -> None:
    clock = Clock(utc_now())
    codes = SmsCodes(pool, EventStore("activation"), KEYS, clock)
    older = await codes.issue("p1", CAUSE)
    older_code = await sent_code(pool, older.code_id, "p1")
    clock.now += timedelta(minutes=1)
    newer = await codes.issue("p1", CAUSE)
    with pytest.raises(SmsCodeUsedError):
        await codes.use("p1", older.code_id, older_code)
    await codes.use("p1", newer.code_id, await sent_code(pool, newer.code_id, "p1"))
