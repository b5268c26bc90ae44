"""Time-driven card transitions on the real database, with an injectable clock: each fires
once, even with two schedulers at once and after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from deploy.stack import Infrastructure
from services.card import commands
from services.card.handlers import CardHandlers
from services.card.scheduler import Scheduler
from services.card.settings import CardSettings
from shared import verified
from shared.envelope import utc_now
from shared.eventstore import Causation, EventStore
from tests.service.schemas import schema_pool

CARD_MIGRATIONS = Path(__file__).parents[2] / "services" / "card" / "migrations"
CAUSE = Causation("test", "test", actor="tester", channel="window")


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def pool(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(infra, "cards", verified.MIGRATIONS, CARD_MIGRATIONS) as pool:
        yield pool


async def delivered_card(handlers: CardHandlers, person_id: str) -> str:
    async with handlers.pool.acquire() as conn:
        await verified.record_verification(conn, person_id, "real_person")
    applied = await handlers.apply(
        person_id=person_id,
        region="410105",
        kind="online",
        delivery="mail",
        causation=CAUSE,
        photo_ref="photo-1",
    )
    card_id = str(applied.payload["card_id"])
    for command in (
        commands.ReportProduced(card_id, "S12345678", "ABCDEF01", "agency"),
        commands.ReportMailed(card_id, "EMS", "EMS123456"),
        commands.ReportDelivered(card_id, "courier"),
    ):
        await handlers.on_card(card_id, command, CAUSE)
    return card_id


async def event_types(pool: asyncpg.Pool, card_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT event_type FROM events WHERE envelope->'payload'->>'card_id' = $1"
        " ORDER BY position",
        card_id,
    )
    return [r["event_type"] for r in rows]


async def test_a_temporary_loss_report_lapses_exactly_once(pool: asyncpg.Pool) -> None:
    clock = Clock(utc_now())
    handlers = CardHandlers(pool, EventStore("card"), CardSettings(), clock)
    card_id = await delivered_card(handlers, "p-lapse")
    lost = commands.ReportLost(card_id, "temporary", "window", clock(), timedelta(days=7))
    await handlers.on_card(card_id, lost, CAUSE)

    clock.now += timedelta(days=6, hours=23)
    assert await Scheduler(handlers, clock).fire_due() == 0, "not due yet"
    clock.now += timedelta(hours=2)
    first, second = Scheduler(handlers, clock), Scheduler(handlers, clock)
    fired = await asyncio.gather(first.fire_due(), second.fire_due())
    assert sorted(fired) == [0, 1]
    # A restarted scheduler finds nothing left to do.
    assert await Scheduler(handlers, clock).fire_due() == 0
    types = await event_types(pool, card_id)
    assert types.count("CardUnblocked") == 1
    assert types[-1] == "CardUnblocked"


async def test_an_unblocked_card_is_not_unblocked_again_by_its_timer(pool: asyncpg.Pool) -> None:
    clock = Clock(utc_now())
    handlers = CardHandlers(pool, EventStore("card"), CardSettings(), clock)
    card_id = await delivered_card(handlers, "p-unblock")
    lost = commands.ReportLost(card_id, "temporary", "window", clock(), timedelta(days=7))
    await handlers.on_card(card_id, lost, CAUSE)
    await handlers.on_card(card_id, commands.Unblock(card_id), CAUSE)
    clock.now += timedelta(days=8)
    assert await Scheduler(handlers, clock).fire_due() == 1, "the timer is spent..."
    assert (await event_types(pool, card_id)).count("CardUnblocked") == 1, "...deciding nothing"


async def test_a_card_not_activated_within_a_year_is_sealed_once(pool: asyncpg.Pool) -> None:
    clock = Clock(utc_now())
    handlers = CardHandlers(pool, EventStore("card"), CardSettings(), clock)
    sealed = await delivered_card(handlers, "p-seal")
    active = await delivered_card(handlers, "p-active")
    await pool.execute("UPDATE cards SET activated = true WHERE card_id = $1", active)
    clock.now += timedelta(days=366)
    assert await Scheduler(handlers, clock).fire_due() == 2
    assert await Scheduler(handlers, clock).fire_due() == 0
    assert (await event_types(pool, sealed))[-1] == "CardSealed"
    assert "CardSealed" not in await event_types(pool, active)
