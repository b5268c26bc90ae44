"""Identity's consumer applies a batch of card events in one statement: the held cards must
come out exactly as if each event had been applied on its own, in order, whatever the
batches hold (repeats, statuses out of order, cards already known)."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bench.workload import CAUSE, journey
from deploy.stack import Infrastructure
from services.identity.consumers import apply_card_event, apply_card_events
from shared.contracts import EventPayload
from shared.db import SHARED_MIGRATIONS, create_pool, migrate
from shared.envelope import Envelope
from shared.eventstore import EventStore

MIGRATIONS = Path(__file__).parents[2] / "services" / "identity" / "migrations"


@pytest.fixture
async def pools(infra: Infrastructure) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    made = []
    for _ in range(2):
        schema = f"held_{secrets.token_hex(4)}"
        pool = await create_pool(infra.database_url, schema)
        await migrate(pool, SHARED_MIGRATIONS, MIGRATIONS)
        made.append((schema, pool))
    yield made[0][1], made[1][1]
    for schema, pool in made:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()


def card_event(rng: random.Random) -> tuple[Envelope, EventPayload]:
    """One of six cards' events (applied, produced, mailed, activated), for one of 3 people."""
    producer, payload = rng.choice([e for e in journey(rng.randrange(6)) if e[0] != "identity"])
    [envelope] = EventStore(producer).envelopes(
        f"stream-{rng.random()}", 0, f"p{rng.randrange(3)}", [payload], CAUSE
    )
    return envelope, payload


async def held(pool: asyncpg.Pool) -> list[tuple[str, str, str]]:
    rows = await pool.fetch("SELECT card_id, person_id, status FROM held_cards ORDER BY card_id")
    return [(r["card_id"], r["person_id"], r["status"]) for r in rows]


async def test_a_batch_gives_what_one_by_one_gives(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    one_by_one, batched = pools
    rng = random.Random(20261123)
    for _ in range(60):
        batch = [card_event(rng) for _ in range(rng.randrange(1, 25))]
        async with one_by_one.acquire() as conn, conn.transaction():
            for envelope, payload in batch:
                await apply_card_event(conn, envelope, payload)
        async with batched.acquire() as conn, conn.transaction():
            await apply_card_events(conn, batch)
        assert await held(batched) == await held(one_by_one)
    assert {status for _, _, status in await held(batched)} >= {"active"}
