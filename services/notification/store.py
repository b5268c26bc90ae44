"""The notification service's tables: the delivery log (one row per event and channel, with
its attempts), preferences, sealed contact details, and whom a message is addressed to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from services.notification.domain import Notification, Preferences, notification_id
from shared import tracing
from shared.consumer import ForeignFeed
from shared.contracts.notification import NotificationPreferencesChanged
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
                # Its send continues the trace of the event it tells of.
                tracing.of_cause(about.event_id_text),
            )
            for person_id, about, r in logged
        ),
        strict=True,
    )
    await conn.execute(
        "INSERT INTO messages (notification_id, person_id, about_event_id, about_event_type,"
        " channel, template, language, body, status, required, last_error, trace_context)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::text[], $10::bool[], $11::text[],"
        " $12::text[])"
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


async def person_of_message(conn: Connection, notification_id: str) -> str | None:
    """Whom a message is for, if it is known."""
    person_id: str | None = await conn.fetchval(
        "SELECT person_id FROM messages WHERE notification_id = $1", notification_id
    )
    return person_id


async def keep_sealed_code(
    conn: Connection, about_event_id: str, person_id: str, issued: Any
) -> None:
    """Keep a one-time code, sealed, until its SMS is sent."""
    await conn.execute(
        "INSERT INTO sealed_codes VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        about_event_id,
        person_id,
        issued.code_id,
        issued.key_id,
        issued.sealed_code,
        issued.expires_at,
    )


async def sealed_codes_of(conn: Connection, about: list[str]) -> dict[str, asyncpg.Record]:
    """The sealed codes of the events some messages are about."""
    rows = await conn.fetch(
        "SELECT * FROM sealed_codes WHERE about_event_id = ANY($1::text[])", about
    )
    return {r["about_event_id"]: r for r in rows}


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


async def queue_depth(conn: Connection) -> dict[str, int]:
    """Messages waiting to be sent (scheduled, due or not), by channel."""
    rows = await conn.fetch(
        "SELECT channel, count(*) AS waiting FROM messages WHERE status = 'scheduled'"
        " GROUP BY channel"
    )
    return {r["channel"]: r["waiting"] for r in rows}
