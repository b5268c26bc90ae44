"""Group commit: concurrent commands of one service decided and appended in one transaction.

A command is handed in with its stream and arguments already read (``CommitGroup.run``). While
a transaction is busy, the commands that arrive wait and go together in the next one: their
streams are loaded in one query, each command is decided in arrival order (a second command
on the same stream sees the first one's events), and all their events, outbox rows and
Idempotency-Key marks are appended in one statement, each numbered after its own expected
version. With nothing else in flight a command goes alone at once: no added wait.

A command refused by its decider fails alone. If the shared transaction fails (a concurrent
writer took a version, another attempt took a command's key, a fault), every command in it is
run again on its own (``shared.aggregate.run`` in a transaction of its own, retried on
conflict), so one failing command never takes the others down with it. If the answer to its
COMMIT is lost, what was stored is asked before anything runs again: a command takes effect
once. Events are inserted in stream order, so that two processes' shared transactions on the
same streams wait for each other instead of deadlocking.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared import tracing
from shared.aggregate import retry_on_conflict, run
from shared.batching import Coalescer
from shared.claims import Claim, current_claim
from shared.contracts import parse_payload
from shared.db import Connection
from shared.decider import Instance
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore, Write
from shared.metrics import COMMANDS_PER_TRANSACTION, GROUP_FALLBACKS

#: Keeps the read models in step with events just appended, in the same transaction.
Projection = Callable[[Connection, Sequence[Envelope]], Awaitable[None]]
#: At most this many commands share a transaction.
MAX_BATCH = 64
#: At most this many shared transactions at once (each holds one pooled connection).
MAX_TRANSACTIONS = 4


@dataclass(frozen=True)
class _Command:
    instance: Instance[Any, Any]
    command: Any
    causation: Causation
    claim: Claim | None
    traces: list[str | None]


#: What a command in a batch comes to: its events, its decider's refusal, or None (the shared
#: transaction failed: it is run again alone).
_Outcome = list[Envelope] | Exception | None


class CommitGroup:
    """A service's command path: ``run`` decides and appends a command, sharing the
    transaction with commands that arrive at the same time."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        project: Projection | None = None,
        *,
        max_batch: int = MAX_BATCH,
        max_transactions: int = MAX_TRANSACTIONS,
    ) -> None:
        self.pool = pool
        self.store = store
        self.project = project
        # Both series present from the start, at zero.
        COMMANDS_PER_TRANSACTION.labels(store.producer)
        GROUP_FALLBACKS.labels(store.producer)
        self._batches: Coalescer[_Command, _Outcome] = Coalescer(
            self._commit, max_batch=max_batch, max_running=max_transactions
        )

    async def run(
        self, instance: Instance[Any, Any], command: Any, causation: Causation
    ) -> list[Envelope]:
        """Decide ``command`` on ``instance``'s stream and append what it caused."""
        traces = tracing.of_causes([causation.causation_id])
        outcome = await self._batches(
            _Command(instance, command, causation, current_claim(), traces)
        )
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is None:  # the shared transaction failed: on its own, in this request
            return await retry_on_conflict(lambda: self._alone(instance, command, causation))
        return outcome

    async def _commit(self, batch: list[_Command]) -> list[_Outcome]:
        # What each claim said before: a failed batch must not leave one saying "took effect".
        claims = [(c.claim, c.claim.committed) for c in batch if c.claim is not None]
        try:
            conn = await self.pool.acquire()
        except Exception:
            return self._fallback(batch, claims)
        try:
            transaction = conn.transaction()
            try:
                await transaction.start()
                outcomes = await self._decide_and_append(conn, batch)
            except Exception:
                with contextlib.suppress(Exception):
                    await transaction.rollback()
                return self._fallback(batch, claims)
            try:
                await transaction.commit()
            except Exception as exc:
                # The server may have committed before the answer was lost: running the
                # commands again could make them take effect twice. Ask what was stored.
                return await self._after_lost_commit(batch, outcomes, claims, exc)
        finally:
            with contextlib.suppress(Exception):
                await self.pool.release(conn)
        COMMANDS_PER_TRANSACTION.labels(self.store.producer).observe(len(batch))
        return outcomes

    async def _decide_and_append(self, conn: Connection, batch: list[_Command]) -> list[_Outcome]:
        histories = await self.store.load_many(conn, list({c.instance.stream_id for c in batch}))
        states: dict[str, tuple[Any, int]] = {}
        outcomes: list[_Outcome] = [self._decide(c, histories, states) for c in batch]
        decided = [
            (c, events)
            for c, events in zip(batch, outcomes, strict=True)
            if isinstance(events, list)
        ]
        writes = [Write(e, c.causation.who, c.traces * len(e), c.claim) for c, e in decided]
        await self.store.append_writes(conn, writes)
        if self.project is not None:
            await self.project(conn, [e for _, events in decided for e in events])
        return outcomes

    def _fallback(self, batch: list[_Command], claims: list[tuple[Claim, bool]]) -> list[_Outcome]:
        """Nothing was stored: each command is run again alone, in its own request, and meets
        its own fate."""
        GROUP_FALLBACKS.labels(self.store.producer).inc()
        for claim, committed in claims:
            claim.committed = committed
        return [None] * len(batch)

    async def _after_lost_commit(
        self,
        batch: list[_Command],
        outcomes: list[_Outcome],
        claims: list[tuple[Claim, bool]],
        lost: Exception,
    ) -> list[_Outcome]:
        """The COMMIT's answer was lost: the outcomes if the events are stored, a run alone
        for each if they are not, the fault for each if that cannot be told."""
        ids = [e.event_id for o in outcomes if isinstance(o, list) for e in o]
        if not ids:
            return outcomes  # refusals only: nothing was to be stored
        try:
            stored = await self.pool.fetchval(
                "SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])", ids
            )
        except Exception:
            for claim, committed in claims:
                claim.committed = committed
            return [lost] * len(batch)
        if stored == len(ids):
            COMMANDS_PER_TRANSACTION.labels(self.store.producer).observe(len(batch))
            return outcomes
        return self._fallback(batch, claims)

    def _decide(
        self,
        c: _Command,
        histories: dict[str, list[Envelope]],
        states: dict[str, tuple[Any, int]],
    ) -> list[Envelope] | Exception:
        """The command's events, numbered after its stream's version as the commands before it
        in the batch left it; or its decider's refusal."""
        decider, stream = c.instance.decider, c.instance.stream_id
        if stream not in states:
            history = histories.get(stream, [])
            states[stream] = (decider.fold(parse_payload(e) for e in history), len(history))
        state, version = states[stream]
        try:
            new = list(decider.decide(state, c.command))
        except Exception as exc:  # a refusal, handed to its own caller
            return exc
        events = self.store.envelopes(stream, version, c.instance.person_id, new, c.causation)
        # The next command on the stream sees these as a reload would (as stored).
        states[stream] = (
            decider.fold((parse_payload(e) for e in events), state),
            version + len(events),
        )
        return events

    async def _alone(
        self, instance: Instance[Any, Any], command: Any, causation: Causation
    ) -> list[Envelope]:
        async with self.pool.acquire() as conn, conn.transaction():
            events = await run(conn, self.store, instance, command, causation)
            if self.project is not None:
                await self.project(conn, events)
            return events
