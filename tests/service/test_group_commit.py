"""Group commit on the real database: concurrent commands share a transaction, each keeps its
expected version, and a failing one never takes the others down."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import asyncpg
import asyncpg.transaction
import pytest

from deploy.stack import Infrastructure
from shared import claims
from shared.contracts import EventPayload
from shared.contracts.card import CardMailed
from shared.db import Connection
from shared.decider import Decider
from shared.envelope import Envelope
from shared.eventstore import Causation, ConcurrencyError, EventStore, Write
from shared.groupcommit import CommitGroup
from tests.service.schemas import schema_pool

DECIDED: Counter[str] = Counter()


class Refused(Exception):
    """The test decider's refusal."""


def _decide(mailed: int, command: str) -> list[EventPayload]:
    if command == "refuse":
        raise Refused
    if command == "nothing":
        return []
    if command.startswith("once"):  # accepted the first time it is decided, refused after
        DECIDED[command] += 1
        if DECIDED[command] > 1:
            raise Refused
    if command == "second only" and mailed != 1:
        raise Refused
    return [CardMailed(card_id=f"c{mailed + 1}", courier="EMS", tracking_number="EMS00000001")]


#: A stream of mailings: each command mails once more, or is refused.
MAILINGS: Decider[int, str] = Decider("mailings", 0, lambda n, _: n + 1, _decide)


@pytest.fixture
async def pool(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(infra, "group") as pool:
        yield pool


class Projection:
    """Records the size of each projected batch; fails the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[int] = []
        self.failures = failures

    async def __call__(self, conn: Connection, events: Sequence[Envelope]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConcurrencyError("a writer elsewhere took a version")
        self.batches.append(len(events))


def cause(n: int) -> Causation:
    return Causation(f"corr-{n}", f"req-{n}", actor="test", channel="window")


async def held_keys(pool: asyncpg.Pool, count: int) -> list[claims.Claim]:
    """``count`` Idempotency-Keys, each held by a request's attempt (as the middleware claims
    them)."""
    keys = [claims.Claim(b"scope", f"key-{n}", uuid.uuid4()) for n in range(count)]
    for claim in keys:
        await pool.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, attempt)"
            " VALUES ($1, $2, $3, $4)",
            claim.scope,
            claim.key,
            b"hash",
            claim.attempt,
        )
    return keys


async def versions(pool: asyncpg.Pool) -> dict[str, list[int]]:
    rows = await pool.fetch("SELECT stream_id, stream_version FROM events ORDER BY 1, 2")
    streams: dict[str, list[int]] = {}
    for r in rows:
        streams.setdefault(r["stream_id"], []).append(r["stream_version"])
    return streams


async def test_concurrent_commands_share_a_transaction_and_keep_each_version(
    pool: asyncpg.Pool,
) -> None:
    projected = Projection()
    group = CommitGroup(pool, EventStore("card"), projected, max_transactions=1)
    commands = [
        group.run(MAILINGS.at(f"s{i % 6}", person=f"p{i % 6}"), "mail", cause(i)) for i in range(60)
    ]
    results = await asyncio.gather(*commands)
    assert all(len(events) == 1 for events in results)
    assert await versions(pool) == {f"mailings-s{s}": list(range(1, 11)) for s in range(6)}
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 60
    assert sum(projected.batches) == 60
    assert len(projected.batches) < 60, "no two commands shared a transaction"
    actors = await pool.fetch("SELECT DISTINCT actor, channel FROM events")
    assert [tuple(r) for r in actors] == [("test", "window")]


async def test_a_refused_command_fails_alone_and_the_next_sees_the_state_before_it(
    pool: asyncpg.Pool,
) -> None:
    group = CommitGroup(pool, EventStore("card"), Projection(), max_transactions=1)
    stream = MAILINGS.at("s", person="p")
    outcomes = await asyncio.gather(
        group.run(stream, "mail", cause(1)),
        group.run(stream, "refuse", cause(2)),
        group.run(stream, "second only", cause(3)),
        group.run(MAILINGS.at("t", person="q"), "mail", cause(4)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], Refused)
    assert [type(o) for o in outcomes] == [list, Refused, list, list]
    assert await versions(pool) == {"mailings-s": [1, 2], "mailings-t": [1]}


async def test_a_failed_transaction_runs_each_command_again_alone_once(pool: asyncpg.Pool) -> None:
    projected = Projection(failures=1)
    group = CommitGroup(pool, EventStore("card"), projected, max_transactions=1)
    results = await asyncio.gather(
        *(group.run(MAILINGS.at(f"s{i % 3}", person="p"), "mail", cause(i)) for i in range(9))
    )
    assert [len(r) for r in results] == [1] * 9
    assert await versions(pool) == {f"mailings-s{s}": [1, 2, 3] for s in range(3)}
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 9
    assert projected.batches == [1] * 9, "after the failure, each command ran on its own"


async def test_a_command_whose_key_was_taken_over_fails_alone(pool: asyncpg.Pool) -> None:
    keys = await held_keys(pool, 3)
    # A retry took the second key over (its first attempt looked dead).
    await pool.execute("UPDATE idempotency_keys SET attempt = $1 WHERE key = 'key-1'", uuid.uuid4())
    group = CommitGroup(pool, EventStore("card"), Projection(), max_transactions=1)

    async def command(n: int) -> list[Envelope]:
        claims._current.set(keys[n])
        return await group.run(MAILINGS.at(f"s{n}", person="p"), "mail", cause(n))

    outcomes = await asyncio.gather(*(command(n) for n in range(3)), return_exceptions=True)
    assert isinstance(outcomes[1], claims.IdempotencyKeyInUse)
    assert [c.committed for c in keys] == [True, False, True]
    assert await versions(pool) == {"mailings-s0": [1], "mailings-s2": [1]}
    marked = await pool.fetch(
        "SELECT key, events FROM idempotency_keys WHERE committed_at IS NOT NULL ORDER BY key"
    )
    assert [r["key"] for r in marked] == ["key-0", "key-2"]
    assert '"stream_id": "mailings-s2"' in marked[1]["events"]


async def test_a_commit_whose_answer_was_lost_is_not_run_again(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server committed, the answer never came (a cut connection): the commands took
    effect once, and their callers are told so."""
    # The COMMIT under every transaction (explicit or `async with`), cut once after it ran.
    name = "_Transaction__commit"
    commit = getattr(asyncpg.transaction.Transaction, name)
    lost = [True]

    async def committed_then_cut(self: asyncpg.transaction.Transaction) -> None:
        await commit(self)
        if lost and lost.pop():
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")

    monkeypatch.setattr(asyncpg.transaction.Transaction, name, committed_then_cut)
    group = CommitGroup(pool, EventStore("card"), Projection(), max_transactions=1)
    results = await asyncio.gather(
        *(group.run(MAILINGS.at(f"s{i}", person="p"), "mail", cause(i)) for i in range(4))
    )
    assert [len(r) for r in results] == [1] * 4
    assert await versions(pool) == {f"mailings-s{i}": [1] for i in range(4)}


async def test_a_failed_batch_leaves_no_key_saying_it_took_effect(pool: asyncpg.Pool) -> None:
    """Marked in a shared transaction that then failed, a command refused when run alone
    must not have its refusal kept as if it had taken effect."""
    keys = await held_keys(pool, 2)
    # Accepted in the shared transaction, which then fails; refused when run alone.
    group = CommitGroup(pool, EventStore("card"), Projection(failures=1), max_transactions=1)

    async def command(n: int, what: str) -> list[Envelope]:
        claims._current.set(keys[n])
        return await group.run(MAILINGS.at(f"t{n}", person="p"), what, cause(n))

    outcomes = await asyncio.gather(
        command(0, "mail"), command(1, f"once-{uuid.uuid4()}"), return_exceptions=True
    )
    assert isinstance(outcomes[0], list)
    assert isinstance(outcomes[1], Refused)
    assert [c.committed for c in keys] == [True, False]
    marked = await pool.fetch("SELECT key FROM idempotency_keys WHERE committed_at IS NOT NULL")
    assert [r["key"] for r in marked] == ["key-0"]


async def test_a_command_that_stored_nothing_does_not_mark_its_key(pool: asyncpg.Pool) -> None:
    keys = await held_keys(pool, 2)
    group = CommitGroup(pool, EventStore("card"), Projection(), max_transactions=1)

    async def command(n: int, what: str) -> list[Envelope]:
        claims._current.set(keys[n])
        return await group.run(MAILINGS.at(f"u{n}", person="p"), what, cause(n))

    done = await asyncio.gather(command(0, "mail"), command(1, "nothing"))
    assert [len(events) for events in done] == [1, 0]
    assert [c.committed for c in keys] == [True, False]
    marked = await pool.fetch("SELECT key FROM idempotency_keys WHERE committed_at IS NOT NULL")
    assert [r["key"] for r in marked] == ["key-0"]


class Recording(EventStore):
    """The event store, recording what its appends raised."""

    def __init__(self) -> None:
        super().__init__("card")
        self.raised: list[Exception] = []

    async def append_writes(self, conn: Connection, writes: Sequence[Write]) -> None:
        try:
            await super().append_writes(conn, writes)
        except Exception as exc:
            self.raised.append(exc)
            raise


async def test_two_processes_batching_the_same_streams_never_deadlock(pool: asyncpg.Pool) -> None:
    """Two replicas' shared transactions hold the same two streams, taken in opposite orders:
    one waits for the other and loses with a conflict (then runs alone), never a deadlock."""
    stores = [Recording(), Recording()]
    groups = [CommitGroup(pool, store, Projection(), max_transactions=1) for store in stores]
    for round_ in range(10):
        x, y = (MAILINGS.at(f"{s}{round_}", person="p") for s in "xy")
        await asyncio.gather(
            groups[0].run(x, "mail", cause(1)),
            groups[0].run(y, "mail", cause(2)),
            groups[1].run(y, "mail", cause(3)),
            groups[1].run(x, "mail", cause(4)),
        )
    assert await versions(pool) == {f"mailings-{s}{r}": [1, 2] for s in "xy" for r in range(10)}
    raised = [type(e.__cause__ or e).__name__ for store in stores for e in store.raised]
    assert "DeadlockDetectedError" not in raised, raised
