"""The notification service's tables: the delivery log (one row per event and channel, with
its attempts), preferences, sealed contact details, and whom a message is addressed to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.notification.domain import Notification, Preferences, notification_id
from shared.consumer import ForeignFeed
from shared.contracts import NotificationPreferencesChanged
from shared.db import Connection
from shared.envelope import Envelope
from shared.rebuild import ApplyOwn, Projection


@dataclass(frozen=True)
class Row:
    """A message to log: one delivery (or the suppression) of what an event deserved."""

    notification_id: str
    channel: str
    template: str
    language: str
    required: bool
    body: str
    status: str
    reason: str | None = None


def rows_of(
    state: Notification, body_in: dict[str, str], template: str, required: bool
) -> list[Row]:
    """The log rows for a notification's state; ``body_in`` maps a language to its text."""
    if state.suppressed is not None:
        language = next(iter(body_in))
        nid = notification_id(str(state.about_event_id), "none")
        return [
            Row(
                nid,
                "none",
                template,
                language,
                required,
                body_in[language],
                "suppressed",
                state.suppressed,
            )
        ]
    return [
        Row(
            d.notification_id,
            d.channel,
            d.template,
            d.language,
            required,
            body_in.get(d.language, ""),
            d.status,
        )
        for d in state.deliveries.values()
    ]


async def log_rows(conn: Connection, logged: list[tuple[str, Envelope, Row]]) -> None:
    """Record what was decided about events (once, however often it is called): (person,
    the event told of, the row)."""
    if not logged:
        return
    # One statement for the whole batch (row by row, PostgreSQL plans and runs each insert).
    columns = zip(
        *(
            (
                r.notification_id,
                person_id,
                about.event_id,
                about.event_type,
                r.channel,
                r.template,
                r.language,
                r.body,
                r.status,
                r.required,
                r.reason,
            )
            for person_id, about, r in logged
        ),
        strict=True,
    )
    await conn.execute(
        "INSERT INTO messages (notification_id, person_id, about_event_id, about_event_type,"
        " channel, template, language, body, status, required, last_error)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::text[], $10::bool[], $11::text[])"
        " ON CONFLICT (notification_id) DO NOTHING",
        *(list(column) for column in columns),
    )
    if any(r.status == "scheduled" for _, _, r in logged):
        await conn.execute("SELECT pg_notify('notification_due', '')")


@dataclass
class Audience:
    """What deciding needs to know of the people a batch of events is about."""

    preferences: dict[str, Preferences]
    id_tails: dict[str, str]
    #: Events each person was told of within the rate window (suppressed ones do not count).
    recent: dict[str, int]


async def audience(conn: Connection, people: list[str], window_s: float) -> Audience:
    """Preferences, ID tails and recent message counts of several people, in one query."""
    rows = await conn.fetch(
        "SELECT u.person_id, p.channels, p.language, p.optional_messages, r.id_tail,"
        " (SELECT count(DISTINCT m.about_event_id) FROM messages m WHERE m.person_id ="
        " u.person_id AND m.status <> 'suppressed'"
        " AND m.created_at > now() - make_interval(secs => $2)) AS recent"
        " FROM unnest($1::text[]) AS u(person_id)"
        " LEFT JOIN preferences p ON p.person_id = u.person_id"
        " LEFT JOIN recipients r ON r.person_id = u.person_id",
        people,
        window_s,
    )
    return Audience(
        preferences={
            r["person_id"]: Preferences(tuple(r["channels"]), r["language"], r["optional_messages"])
            for r in rows
            if r["channels"] is not None
        },
        id_tails={r["person_id"]: r["id_tail"] for r in rows if r["id_tail"] is not None},
        recent={r["person_id"]: int(r["recent"]) for r in rows},
    )


# --- preferences, contacts, recipients ---------------------------------------------------


async def preferences_view(conn: Connection, person_id: str) -> asyncpg.Record | None:
    """The person's choices with the masked contacts, for display."""
    return await conn.fetchrow(
        "SELECT channels, language, optional_messages, masked_phone, masked_email"
        " FROM preferences WHERE person_id = $1",
        person_id,
    )


async def apply_own(conn: Connection, envelope: Envelope) -> None:
    """Derive the preferences table from the service's own events."""
    if envelope.event_type != NotificationPreferencesChanged.event_type:
        return
    event = NotificationPreferencesChanged.model_validate(envelope.payload)
    await conn.execute(
        "INSERT INTO preferences (person_id, channels, language, optional_messages,"
        " masked_phone, masked_email) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (person_id) DO UPDATE SET channels = EXCLUDED.channels,"
        " language = EXCLUDED.language, optional_messages = EXCLUDED.optional_messages,"
        " masked_phone = EXCLUDED.masked_phone, masked_email = EXCLUDED.masked_email",
        envelope.person_id,
        list(event.channels),
        event.language,
        event.optional_messages,
        event.masked_phone,
        event.masked_email,
    )


async def save_contact(
    conn: Connection, person_id: str, phone: str | None, email: str | None
) -> None:
    """Keep the sealed contact details given (None keeps what was there)."""
    await conn.execute(
        "INSERT INTO contacts (person_id, phone_ciphertext, email_ciphertext)"
        " VALUES ($1, $2, $3) ON CONFLICT (person_id) DO UPDATE SET"
        " phone_ciphertext = coalesce(EXCLUDED.phone_ciphertext, contacts.phone_ciphertext),"
        " email_ciphertext = coalesce(EXCLUDED.email_ciphertext, contacts.email_ciphertext),"
        " updated_at = now()",
        person_id,
        phone,
        email,
    )


async def contacts_of(conn: Connection, people: list[str]) -> dict[str, asyncpg.Record]:
    """The sealed contact details of several people."""
    rows = await conn.fetch(
        "SELECT person_id, phone_ciphertext, email_ciphertext FROM contacts"
        " WHERE person_id = ANY($1::text[])",
        people,
    )
    return {r["person_id"]: r for r in rows}


async def remember_recipient(conn: Connection, person_id: str, masked_id: str, region: str) -> None:
    """Whom messages are addressed to: the last four characters of the ID number only."""
    await conn.execute(
        "INSERT INTO recipients (person_id, id_tail, region) VALUES ($1, $2, $3)"
        " ON CONFLICT (person_id) DO UPDATE SET id_tail = EXCLUDED.id_tail,"
        " region = EXCLUDED.region",
        person_id,
        masked_id[-4:],
        region,
    )


async def forget_person(conn: Connection, person_id: str) -> None:
    """Erasure: contact details and the addressing go; the log keeps masked texts only."""
    await conn.execute("DELETE FROM contacts WHERE person_id = $1", person_id)
    await conn.execute("DELETE FROM recipients WHERE person_id = $1", person_id)


# --- delivery -----------------------------------------------------------------------------


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


#: Claims up to $1 due messages for a lease of $2 seconds (see ``claim_due``).
CLAIM_DUE = (
    "WITH due AS (SELECT notification_id, in_flight_since AS prior FROM messages d"
    "  WHERE status = 'scheduled' AND next_attempt_at <= now() AND (in_flight_since IS NULL"
    "   OR in_flight_since < now() - make_interval(secs => $2))"
    # Not while an earlier message to the same person on the same channel is on its way:
    # concurrent rounds keep each person's messages in order.
    "  AND NOT EXISTS (SELECT 1 FROM messages e WHERE e.person_id = d.person_id"
    "   AND e.channel = d.channel AND e.seq < d.seq AND e.status = 'scheduled'"
    "   AND e.in_flight_since >= now() - make_interval(secs => $2))"
    "  ORDER BY next_attempt_at, seq LIMIT $1 FOR UPDATE SKIP LOCKED)"
    " UPDATE messages m SET in_flight_since = now(), attempts = m.attempts + 1"
    " FROM due WHERE m.notification_id = due.notification_id"
    " RETURNING m.notification_id, m.person_id, m.about_event_id::text, m.channel,"
    " m.language, m.body, m.attempts, m.in_flight_since AS claimed_at,"
    " due.prior IS NOT NULL AS resumed, m.seq"
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


# --- reading ------------------------------------------------------------------------------

LOG_COLUMNS = (
    "notification_id, about_event_id::text, about_event_type, channel, template, language,"
    " required, body, status, attempts, last_error, possible_duplicate, created_at, sent_at"
)


async def messages_of(conn: Connection, person_id: str) -> list[asyncpg.Record]:
    """A person's messages, oldest first."""
    return await conn.fetch(
        f"SELECT {LOG_COLUMNS} FROM messages WHERE person_id = $1"  # noqa: S608
        " ORDER BY seq",
        person_id,
    )


async def message(conn: Connection, nid: str) -> asyncpg.Record | None:
    """One message with its person."""
    return await conn.fetchrow(
        f"SELECT person_id, {LOG_COLUMNS} FROM messages WHERE notification_id = $1",  # noqa: S608
        nid,
    )


async def attempts_of(conn: Connection, nid: str) -> list[asyncpg.Record]:
    """Every delivery attempt of a message, in order."""
    return await conn.fetch(
        "SELECT attempt, started_at, finished_at, outcome, detail, possible_duplicate"
        " FROM delivery_attempts WHERE notification_id = $1 ORDER BY started_at",
        nid,
    )


def projection(feed: ForeignFeed, apply: ApplyOwn = apply_own) -> Projection:
    """The notification service's derived state: delivery log, preferences, recipients.

    Contacts are not derived (they never travel in events) and the attempts log is the
    record of what happened at the gateways: both are kept."""
    message_columns = ("notification_id", "person_id", "about_event_id", "about_event_type")
    return Projection(
        tables={
            "messages": (*message_columns, "channel", "template", "language", "status", "required"),
            "preferences": (
                "person_id",
                "channels",
                "language",
                "optional_messages",
                "masked_phone",
                "masked_email",
            ),
            "recipients": ("person_id", "id_tail", "region"),
        },
        apply_own=apply,
        foreign=feed,
        # Deliveries are derived from each notification's stream as its event is replayed:
        # of the service's own events only the preferences are read back.
        own_types=frozenset({NotificationPreferencesChanged.event_type}),
    )
