"""``shebao issue-facts`` on the real database: persons registered (or verified) before facts
existed, or before a key rotation, get them once; erased persons never do."""

from __future__ import annotations

import base64
import random

import asyncpg

from deploy.demo.citizens import fake_citizen
from services.identity.app import build_identity
from services.identity.settings import IdentitySettings
from shared.eventstore import EventStore
from tests.service.test_registry import CAUSE, pool, rows  # noqa: F401 (the pool fixture)

ROTATED = base64.b64encode(bytes(range(32))).decode()


async def facts_events(db: asyncpg.Pool) -> list[str]:
    """The key id of each PersonFactsIssued in the event store, in order."""
    rows = await db.fetch(
        "SELECT envelope->'payload'->>'key_id' FROM events"
        " WHERE event_type = 'PersonFactsIssued' ORDER BY position"
    )
    return [str(r[0]) for r in rows]


async def test_facts_are_issued_once_per_key_and_never_for_the_erased(
    pool: asyncpg.Pool,  # noqa: F811
) -> None:
    settings = IdentitySettings()
    identity = build_identity(settings, pool, EventStore("identity"))
    rng = random.Random(91)
    citizens = [fake_citizen(rng).registration() for _ in range(3)]
    report = await identity.registrar.import_rows(rows(*citizens), CAUSE)
    assert report.registered == 3
    people = [r["person_id"] for r in await pool.fetch("SELECT person_id FROM persons")]
    erased = people[0]
    assert await identity.verifier.erase(person_id=erased, requested_by="ops", causation=CAUSE)

    issued = [await identity.verifier.issue_facts(p, CAUSE) for p in people]
    assert issued == [p != erased for p in people]
    assert [await identity.verifier.issue_facts(p, CAUSE) for p in people] == [False] * 3
    assert await facts_events(pool) == ["dev", "dev"]

    rotated = IdentitySettings(SHEBAO_FACTS_KEYS={"k2": ROTATED})
    after = build_identity(rotated, pool, EventStore("identity"))
    assert [await after.verifier.issue_facts(p, CAUSE) for p in people] == [
        p != erased for p in people
    ]
    assert sorted(await facts_events(pool)) == ["dev", "dev", "k2", "k2"]
