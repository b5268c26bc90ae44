"""Claiming due messages: from a large backlog (a gateway down for an hour, a catch-up after
an outage) a claim reads about as many rows as it takes, checked on the plan PostgreSQL runs,
not on a clock; and a person's messages on a channel are claimed in the order they were
decided, also by rounds that claim at the same moment."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from deploy.stack import Infrastructure
from services.notification import deliveries
from tests.service.schemas import schema_pool

MIGRATIONS = Path(__file__).parents[2] / "services" / "notification" / "migrations"
BACKLOG = 30_000


@pytest.fixture
async def queue(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    """An empty delivery queue in a schema of its own."""
    async with schema_pool(infra, "claims", MIGRATIONS) as pool:
        yield pool


@pytest.fixture
async def pool(queue: asyncpg.Pool) -> asyncpg.Pool:
    """The queue with a backlog: three messages per person, decided in order."""
    await queue.execute(
        "INSERT INTO messages (notification_id, person_id, about_event_id, about_event_type,"
        " channel, template, language, body, status, required)"
        " SELECT 'n' || g, 'p' || (g / 3), gen_random_uuid(), 'CardMailed', 'sms', 't',"
        " 'zh-Hans', 'text', 'scheduled', false FROM generate_series(0, $1 - 1) g",
        BACKLOG,
    )
    await queue.execute("ANALYZE messages")
    return queue


async def _decide(pool: asyncpg.Pool, nid: str, about: str, due_in_s: float = 0.0) -> None:
    """Schedule one message to person p1 by SMS, due in ``due_in_s`` seconds."""
    await pool.execute(
        "INSERT INTO messages (notification_id, person_id, about_event_id, about_event_type,"
        " channel, template, language, body, status, required, next_attempt_at)"
        " VALUES ($1, 'p1', gen_random_uuid(), $2, 'sms', 't', 'zh-Hans', 'text', 'scheduled',"
        " false, now() + make_interval(secs => $3))",
        nid,
        about,
        due_in_s,
    )


async def test_a_round_claiming_at_the_same_moment_never_overtakes(queue: asyncpg.Pool) -> None:
    await _decide(queue, "applied", "CardApplied")
    async with queue.acquire() as first, first.transaction():
        # The first round has taken "applied" and not yet committed its claim when "mailed"
        # is decided and a second round looks.
        assert [c.notification_id for c in await deliveries.claim_due(first, 10, 30.0)] == [
            "applied"
        ]
        await _decide(queue, "mailed", "CardMailed")
        async with queue.acquire() as second:
            assert await deliveries.claim_due(second, 10, 30.0) == []
    # Once "applied" is recorded as sent, "mailed" goes.
    await deliveries.mark_sent(queue, "applied", None, False)
    async with queue.acquire() as conn:
        claimed = await deliveries.claim_due(conn, 10, 30.0)
    assert [c.notification_id for c in claimed] == ["mailed"]


async def test_a_message_waits_for_an_earlier_one_waiting_out_its_backoff(
    queue: asyncpg.Pool,
) -> None:
    await _decide(queue, "applied", "CardApplied", due_in_s=60)
    await _decide(queue, "mailed", "CardMailed")
    async with queue.acquire() as conn:
        assert await deliveries.claim_due(conn, 10, 30.0) == []
        await conn.execute("UPDATE messages SET next_attempt_at = now()")
        claimed = await deliveries.claim_due(conn, 10, 30.0)
    # Both at once (the dispatcher sends a lane one after the other, in the order decided).
    assert [c.notification_id for c in sorted(claimed, key=lambda c: c.seq)] == [
        "applied",
        "mailed",
    ]


async def test_the_limit_never_takes_a_later_message_without_the_earlier(
    queue: asyncpg.Pool,
) -> None:
    # "applied" failed once and is due again after "mailed" became due: the claim order
    # (next_attempt_at) puts "mailed" first, and a limit of one would take it alone.
    await _decide(queue, "applied", "CardApplied")
    await _decide(queue, "mailed", "CardMailed", due_in_s=-60)
    async with queue.acquire() as conn:
        assert await deliveries.claim_due(conn, 1, 30.0) == []
        claimed = await deliveries.claim_due(conn, 2, 30.0)
    assert {c.notification_id for c in claimed} == {"applied", "mailed"}


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
