"""The write side's one move: load a stream, fold it, decide, append; retried on conflict."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shared.contracts import parse_payload
from shared.db import Connection
from shared.decider import Decider, Instance
from shared.envelope import Envelope
from shared.eventstore import Causation, ConcurrencyError, EventStore

S = TypeVar("S")
C = TypeVar("C")
T = TypeVar("T")


async def load_state(
    conn: Connection, store: EventStore, decider: Decider[S, Any], stream_id: str
) -> tuple[S, int]:
    """The stream's current state and version."""
    history = await store.load(conn, stream_id)
    return decider.fold(parse_payload(e) for e in history), len(history)


async def run(
    conn: Connection, store: EventStore, instance: Instance[S, C], command: C, causation: Causation
) -> list[Envelope]:
    """Run one command against an aggregate's instance inside the caller's transaction: load,
    fold, decide, append (a concurrent writer makes the append raise ConcurrencyError)."""
    decider, stream_id = instance.decider, instance.stream_id
    state, version = await load_state(conn, store, decider, stream_id)
    new = list(decider.decide(state, command))
    envelopes = store.envelopes(stream_id, version, instance.person_id, new, causation)
    await store.append(conn, envelopes, causation.who)
    return envelopes


async def retry_on_conflict(attempt: Callable[[], Awaitable[T]], *, attempts: int = 8) -> T:
    """Run ``attempt`` again when a concurrent writer won; the last conflict propagates.

    Backoff is exponential with full jitter, so writers that collided do not collide again.
    """
    for n in range(attempts - 1):
        try:
            return await attempt()
        except ConcurrencyError:
            await asyncio.sleep(random.uniform(0, 0.005 * 2**n))  # noqa: S311 - not a secret
    return await attempt()
