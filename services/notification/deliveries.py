"""The delivery queue in the ``messages`` table: claiming due messages under a lease, and
recording how each attempt ended (sent, retried later, failed for good, replayed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.db import Connection


@dataclass(frozen=True)
class Claimed:
    """A message taken for delivery by this dispatcher."""

    notification_id: str
    person_id: str
    about_event_id: str
    channel: str
    language: str
    body: str
    attempts: int
    claimed_at: datetime
    #: An earlier claim was never recorded: the process died between send and record.
    resumed: bool
    #: Order of decision.
    seq: int
    #: When the message was decided (its delivery latency runs from here).
    created_at: datetime
    #: The trace of the event it tells of (W3C traceparent), if that carried one.
    trace_context: str | None


#: Claims up to $1 due messages for a lease of $2 seconds (see ``claim_due``).
CLAIM_DUE = (
    "WITH candidates AS (SELECT notification_id, person_id, channel, seq,"
    "  in_flight_since AS prior FROM messages d"
    "  WHERE status = 'scheduled' AND next_attempt_at <= now() AND (in_flight_since IS NULL"
    "   OR in_flight_since < now() - make_interval(secs => $2))"
    # Not while an earlier message to the same person on the same channel is on its way.
    "  AND NOT EXISTS (SELECT 1 FROM messages e WHERE e.person_id = d.person_id"
    "   AND e.channel = d.channel AND e.seq < d.seq AND e.status = 'scheduled'"
    "   AND e.in_flight_since >= now() - make_interval(secs => $2))"
    "  ORDER BY next_attempt_at, seq LIMIT $1 FOR UPDATE SKIP LOCKED),"
    # Nor unless every earlier message of that lane still to be sent is taken with it: one
    # waiting out a backoff, cut off by the limit, or being claimed by a concurrent round
    # (locked, so skipped above, and not yet in flight in this statement's snapshot).
    " due AS (SELECT * FROM candidates c WHERE NOT EXISTS (SELECT 1 FROM messages e"
    "  WHERE e.person_id = c.person_id AND e.channel = c.channel AND e.seq < c.seq"
    "   AND e.status = 'scheduled'"
    "   AND e.notification_id NOT IN (SELECT notification_id FROM candidates)))"
    " UPDATE messages m SET in_flight_since = now(), attempts = m.attempts + 1"
    " FROM due WHERE m.notification_id = due.notification_id"
    " RETURNING m.notification_id, m.person_id, m.about_event_id::text, m.channel,"
    " m.language, m.body, m.attempts, m.in_flight_since AS claimed_at,"
    " due.prior IS NOT NULL AS resumed, m.seq, m.created_at, m.trace_context"
)


async def claim_due(conn: Connection, limit: int, lease_s: float) -> list[Claimed]:
    """Take up to ``limit`` due messages (others' claims skipped), counting the attempt."""
    rows = await conn.fetch(CLAIM_DUE, limit, lease_s)
    return [Claimed(**dict(r)) for r in rows]


async def record_attempt(
    conn: Connection,
    claimed: Claimed,
    outcome: str,
    detail: str | None,
    gateway_ref: str | None,
    possible_duplicate: bool,
) -> None:
    """One line of the attempts log (a replayed record changes nothing)."""
    await conn.execute(
        "INSERT INTO delivery_attempts (notification_id, attempt, started_at, outcome, detail,"
        " gateway_ref, possible_duplicate) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT DO NOTHING",
        claimed.notification_id,
        claimed.attempts,
        claimed.claimed_at,
        outcome,
        detail,
        gateway_ref,
        possible_duplicate,
    )


async def mark_sent(
    conn: Connection, nid: str, gateway_ref: str | None, possible_duplicate: bool
) -> None:
    """The message was delivered."""
    await conn.execute(
        "UPDATE messages SET status = 'sent', sent_at = now(), gateway_ref = $2,"
        " in_flight_since = NULL, last_error = NULL,"
        " possible_duplicate = possible_duplicate OR $3 WHERE notification_id = $1",
        nid,
        gateway_ref,
        possible_duplicate,
    )


async def mark_retry(conn: Connection, nid: str, delay_s: float, reason: str, dup: bool) -> None:
    """A transient failure: try again after ``delay_s``."""
    await conn.execute(
        "UPDATE messages SET in_flight_since = NULL, last_error = $3,"
        " next_attempt_at = now() + make_interval(secs => $2),"
        " possible_duplicate = possible_duplicate OR $4 WHERE notification_id = $1",
        nid,
        delay_s,
        reason,
        dup,
    )


async def mark_failed(conn: Connection, nid: str, reason: str, dup: bool) -> None:
    """Delivery gave up: failed, and a dead letter is owed to the operators."""
    await conn.execute(
        "UPDATE messages SET status = 'failed', in_flight_since = NULL, last_error = $2,"
        " dead_letter_pending = true, possible_duplicate = possible_duplicate OR $3"
        " WHERE notification_id = $1",
        nid,
        reason,
        dup,
    )


async def reschedule(conn: Connection, nid: str) -> None:
    """An operator's retry: deliver again from the first attempt's delay."""
    await conn.execute(
        "UPDATE messages SET status = 'scheduled', attempts = 0, next_attempt_at = now(),"
        " in_flight_since = NULL, dead_letter_pending = false WHERE notification_id = $1",
        nid,
    )
    await conn.execute("SELECT pg_notify('notification_due', '')")


async def owed_dead_letters(conn: Connection, limit: int = 100) -> list[asyncpg.Record]:
    """Failed messages whose dead letter was not yet published."""
    return await conn.fetch(
        "SELECT notification_id, person_id, about_event_id::text, about_event_type, channel,"
        " attempts, last_error FROM messages WHERE dead_letter_pending LIMIT $1",
        limit,
    )


async def dead_letter_published(conn: Connection, nid: str) -> None:
    """The dead letter of a failed message is on the topic."""
    await conn.execute(
        "UPDATE messages SET dead_letter_pending = false WHERE notification_id = $1", nid
    )
