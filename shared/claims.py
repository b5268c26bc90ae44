"""A command's hold on its ``Idempotency-Key``, as the write side sees it: the transaction that
stores a command's events marks its key as taken effect (``shared.idempotency`` claims keys
and keeps answers at the HTTP edge; ``shared.eventstore`` marks them)."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from shared.db import Connection
from shared.envelope import Envelope


@dataclass
class Claim:
    """One attempt's hold on a key."""

    scope: bytes
    key: str
    attempt: uuid.UUID
    #: Whether the attempt stored events (took effect).
    committed: bool = False


_current: ContextVar[Claim | None] = ContextVar("idempotency_claim", default=None)


class IdempotencyKeyInUse(Exception):
    """Another attempt with this key holds it, or committed first."""

    code = "IDEMPOTENCY_KEY_IN_USE"
    message = "A request with this Idempotency-Key is being carried out; retry in a moment."


#: Marks each command's key as having taken effect, with the events it stored ($1-$4: arrays,
#: see :func:`mark_parameters`). The event store's append statement holds the same update.
MARK = (
    "UPDATE idempotency_keys k SET committed_at = coalesce(k.committed_at, now()),"
    " events = k.events || m.events::jsonb FROM unnest($1::bytea[], $2::text[], $3::uuid[],"
    " $4::text[]) AS m(scope, key, attempt, events)"
    " WHERE k.scope = m.scope AND k.key = m.key AND k.attempt = m.attempt RETURNING true"
)


def current_claim() -> Claim | None:
    """The running command's hold on its Idempotency-Key (None when it came without one)."""
    return _current.get()


def mark_parameters(
    claimed: Sequence[tuple[Claim | None, Sequence[Envelope]]],
) -> tuple[list[bytes], list[str], list[uuid.UUID], list[str]]:
    """MARK's parameters for commands and the events each stored: one row per key (empty
    arrays, marking nothing, when no command with a key stored anything)."""
    marks = _marks(claimed)
    return (
        [claim.scope for claim, _ in marks],
        [claim.key for claim, _ in marks],
        [claim.attempt for claim, _ in marks],
        [json.dumps([_named(e) for e in events]) for _, events in marks],
    )


def _marks(
    claimed: Sequence[tuple[Claim | None, Sequence[Envelope]]],
) -> list[tuple[Claim, list[Envelope]]]:
    """Each attempt that stored events, with all the events it stored. A command that stored
    nothing does not mark its key (it took no effect), wherever it ran."""
    marks: dict[tuple[bytes, str, uuid.UUID], tuple[Claim, list[Envelope]]] = {}
    for claim, events in claimed:
        if claim is not None and events:
            attempt = (claim.scope, claim.key, claim.attempt)
            marks.setdefault(attempt, (claim, []))[1].extend(events)
    return list(marks.values())


def _named(event: Envelope) -> dict[str, str]:
    return {
        "event_type": event.event_type,
        "event_id": str(event.event_id),
        "stream_id": event.stream_id,
    }


def marked(claimed: Sequence[tuple[Claim | None, Sequence[Envelope]]], held: int) -> None:
    """After MARK ran in the commands' transaction (``held``: the rows it updated): whether
    each attempt still held its key. If another attempt took one over, raise, rolling the
    commands back."""
    marks = _marks(claimed)
    if held < len(marks):
        raise IdempotencyKeyInUse
    for claim, _ in marks:
        claim.committed = True


async def mark_committed(
    conn: Connection, claimed: Sequence[tuple[Claim | None, Sequence[Envelope]]]
) -> None:
    """Inside the transaction that stores commands' events: record that each attempt took
    effect, and which events it stored, or raise (rolling them back) if another attempt holds
    its key."""
    if not _marks(claimed):
        return
    held = await conn.fetch(MARK, *mark_parameters(claimed))
    marked(claimed, len(held))


async def mark_unnamed(conn: Connection, claim: Claim | None) -> None:
    """``mark_committed`` for an effect too large to name its events (a registry import)."""
    if claim is None:
        return
    held = await conn.fetch(MARK, [claim.scope], [claim.key], [claim.attempt], ["[]"])
    if not held:
        raise IdempotencyKeyInUse
    claim.committed = True


@contextlib.contextmanager
def outside_command() -> Iterator[None]:
    """Writes that are not the command's own (the access log) do not mark its key."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)
