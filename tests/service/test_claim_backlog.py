"""Claiming due messages from a large backlog (a gateway down for an hour, a catch-up after
an outage) reads about as many rows as it takes, in order, and keeps each person's messages
in the order they were decided. Checked on the plan PostgreSQL runs, not on a clock."""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from deploy.stack import Infrastructure
from services.notification import deliveries
from shared.db import SHARED_MIGRATIONS, create_pool, migrate

MIGRATIONS = Path(__file__).parents[2] / "services" / "notification" / "migrations"
BACKLOG = 30_000


@pytest.fixture
async def pool(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    schema = f"claims_{secrets.token_hex(4)}"
    pool = await create_pool(infra.database_url, schema)
    await migrate(pool, SHARED_MIGRATIONS, MIGRATIONS)
    # Three messages per person, decided in order.
    await pool.execute(
        "INSERT INTO messages (notification_id, person_id, about_event_id, about_event_type,"
        " channel, template, language, body, status, required)"
        " SELECT 'n' || g, 'p' || (g / 3), gen_random_uuid(), 'CardMailed', 'sms', 't',"
        " 'zh-Hans', 'text', 'scheduled', false FROM generate_series(0, $1 - 1) g",
        BACKLOG,
    )
    await pool.execute("ANALYZE messages")
    yield pool
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


async def test_claims_from_a_backlog_read_only_what_they_take(pool: asyncpg.Pool) -> None:
    claimed: list[deliveries.Claimed] = []
    async with pool.acquire() as conn:
        # More than five runs: PostgreSQL may switch the prepared claim to its generic plan.
        for _ in range(7):
            claimed += await deliveries.claim_due(conn, 50, 30.0)
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        [row] = await conn.fetch(f"EXPLAIN (ANALYZE, FORMAT JSON) {deliveries.CLAIM_DUE}", 50, 30.0)
    plan = json.loads(row[0])[0]["Plan"]
    nodes = _nodes(plan)
    assert not [n for n in nodes if n["Node Type"] in {"Seq Scan", "Sort"}], nodes
    # Rows the scans read (kept or filtered out): those claimed and those still in flight.
    read = sum(
        (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
        for n in nodes
        if "Scan" in n["Node Type"] and n["Node Type"] != "CTE Scan"
    )
    assert read < BACKLOG / 10, f"a claim of 50 read {read} rows"
    # Nothing was recorded, so everything claimed is still on its way: a person's later
    # message was never claimed before an earlier one.
    assert len(claimed) == 7 * 50
    taken: dict[str, list[int]] = defaultdict(list)
    for c in claimed:
        taken[c.person_id].append(int(c.notification_id.removeprefix("n")))
    for person, numbers in taken.items():
        first = int(person.removeprefix("p")) * 3
        assert sorted(numbers) == list(range(first, first + len(numbers))), person
