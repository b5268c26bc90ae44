"""The card service's read models: cards, timers and e-cards (its own events), verified
persons, family links and activation (learned from identity and activation events)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from shared import facts, verified
from shared.consumer import ForeignFeed
from shared.contracts.card import STATUS_AFTER
from shared.db import Connection
from shared.envelope import Envelope
from shared.rebuild import Projection

CARD_COLUMNS = ("card_id", "person_id", "stream_id", "region", "status", "lost", "activated")


async def project(conn: Connection, envelopes: Sequence[Envelope], seal_after: timedelta) -> None:
    """Keep the read models in step with the events just appended (or replayed)."""
    for e in envelopes:
        p = e.payload
        if e.event_type == "CardApplied":
            await conn.execute(
                "INSERT INTO cards (card_id, person_id, stream_id, region, status)"
                " VALUES ($1, $2, $3, $4, 'applied')",
                p["card_id"],
                e.person_id,
                e.stream_id,
                p["region"],
            )
        elif e.event_type in STATUS_AFTER:
            await _status(conn, p["card_id"], STATUS_AFTER[e.event_type])
        if e.event_type == "CardProduced":
            await _timer(conn, p["card_id"], "seal", e.occurred_at + seal_after, e.occurred_at)
        elif e.event_type == "CardReportedLost":
            await conn.execute(
                "UPDATE cards SET lost = $2 WHERE card_id = $1", p["card_id"], p["kind"]
            )
            if p["expires_at"]:
                expires = datetime.fromisoformat(p["expires_at"])
                await _timer(conn, p["card_id"], "lapse_loss", expires, e.occurred_at)
        elif e.event_type == "CardUnblocked":
            await conn.execute("UPDATE cards SET lost = NULL WHERE card_id = $1", p["card_id"])
        elif e.event_type == "ECardMoved":
            await conn.execute(
                "DELETE FROM ecards WHERE person_id = $1 AND stream_id = $2",
                e.person_id,
                e.stream_id,
            )
        elif e.event_type in ("ECardClaimed", "ECardResumed"):
            await conn.execute(
                "INSERT INTO ecards (person_id, stream_id, card_id, region)"
                " VALUES ($1, $2, $3, coalesce($4, ''))"
                " ON CONFLICT (person_id, stream_id) DO UPDATE SET card_id = EXCLUDED.card_id",
                e.person_id,
                e.stream_id,
                p["card_id"],
                p.get("region"),
            )


async def _status(conn: Connection, card_id: str, status: str) -> None:
    await conn.execute(
        "UPDATE cards SET status = $2, updated_at = now() WHERE card_id = $1", card_id, status
    )


async def _timer(
    conn: Connection, card_id: str, kind: str, due_at: datetime, since: datetime
) -> None:
    await conn.execute(
        "INSERT INTO card_timers (card_id, kind, due_at, since) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        card_id,
        kind,
        due_at,
        since,
    )


async def find_card(conn: Connection, card_id: str) -> asyncpg.Record | None:
    """A card's holder, stream, region, status, loss report and activation."""
    return await conn.fetchrow(
        "SELECT card_id, person_id, stream_id, region, status, lost, activated FROM cards"
        " WHERE card_id = $1",
        card_id,
    )


async def explained_card(conn: Connection, card_id: str) -> asyncpg.Record | None:
    """A card as find_card gives it, with the events that explain it ("type@id", in order):
    one query, no event parsed."""
    return await conn.fetchrow(
        "SELECT c.card_id, c.person_id, c.stream_id, c.region, c.status, c.lost, c.activated,"
        " coalesce((SELECT array_agg(e.event_type || '@' || e.event_id::text"
        " ORDER BY e.stream_version) FROM events e WHERE e.stream_id = c.stream_id"
        " AND e.envelope -> 'payload' ->> 'card_id' = c.card_id), '{}') AS explained_by"
        " FROM cards c WHERE c.card_id = $1",
        card_id,
    )


async def cards_in_status(conn: Connection, status: str, limit: int) -> list[asyncpg.Record]:
    """Cards waiting in a status, oldest first (e.g. applications awaiting production)."""
    return await conn.fetch(
        "SELECT card_id, person_id, stream_id, region, status, lost, activated FROM cards"
        " WHERE status = $1 ORDER BY updated_at LIMIT $2",
        status,
        limit,
    )


async def ecard_stream(conn: Connection, person_id: str) -> str | None:
    """The stream holding the person's e-card."""
    stream: str | None = await conn.fetchval(
        "SELECT stream_id FROM ecards WHERE person_id = $1 ORDER BY stream_id LIMIT 1", person_id
    )
    return stream


async def holder_of(conn: Connection, card_id: str) -> str | None:
    """The person holding a card, if known."""
    person_id: str | None = await conn.fetchval(
        "SELECT person_id FROM cards WHERE card_id = $1", card_id
    )
    return person_id


async def may_act_for(conn: Connection, holder: str, member: str) -> bool:
    """Whether identity's events say ``member`` is a linked family member of ``holder``."""
    linked = await conn.fetchval(
        "SELECT true FROM family_links WHERE holder_person_id = $1 AND member_person_id = $2",
        holder,
        member,
    )
    return bool(linked)


async def due_timers(conn: Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Timers due now, locked for this transaction (other schedulers skip them)."""
    return await conn.fetch(
        "SELECT t.card_id, t.kind, t.due_at, t.since, c.stream_id, c.person_id, c.activated"
        " FROM card_timers t JOIN cards c USING (card_id)"
        " WHERE t.fired_at IS NULL AND t.due_at <= $1 ORDER BY t.due_at LIMIT $2"
        " FOR UPDATE OF t SKIP LOCKED",
        now,
        limit,
    )


async def mark_fired(conn: Connection, timer: asyncpg.Record, now: datetime) -> None:
    """The timer's transition was decided: it never fires again."""
    await conn.execute(
        "UPDATE card_timers SET fired_at = $4 WHERE card_id = $1 AND kind = $2 AND due_at = $3",
        timer["card_id"],
        timer["kind"],
        timer["due_at"],
        now,
    )


def projection(feed: ForeignFeed, seal_after: timedelta) -> Projection:
    """The card service's derived state, for rebuilds."""

    async def apply_own(conn: Connection, envelope: Envelope) -> None:
        await project(conn, [envelope], seal_after)

    return Projection(
        tables={
            "verified_persons": verified.COLUMNS,
            "person_facts": facts.COLUMNS,
            "cards": CARD_COLUMNS,
            "card_timers": ("card_id", "kind", "due_at", "since"),
            "ecards": ("person_id", "stream_id", "card_id"),
            "family_links": ("holder_person_id", "member_person_id"),
        },
        apply_own=apply_own,
        foreign=feed,
    )


async def link_family(conn: Connection, holder_person_id: str, member_person_id: str) -> None:
    """Remember that the holder may act for the member (identity's FamilyMemberLinked)."""
    await conn.execute(
        "INSERT INTO family_links VALUES ($1, $2) ON CONFLICT DO NOTHING",
        holder_person_id,
        member_person_id,
    )


async def unlink_family(conn: Connection, holder_person_id: str, member_person_id: str) -> None:
    """Forget a family link (identity's FamilyMemberUnlinked)."""
    await conn.execute(
        "DELETE FROM family_links WHERE holder_person_id = $1 AND member_person_id = $2",
        holder_person_id,
        member_person_id,
    )


async def mark_activated(conn: Connection, card_id: str) -> None:
    """The activation service activated the card."""
    await conn.execute("UPDATE cards SET activated = true WHERE card_id = $1", card_id)


async def count_due_timers(conn: Connection, now: datetime) -> int:
    """Timers due and not yet fired (the scheduler fires them)."""
    due: int = await conn.fetchval(
        "SELECT count(*) FROM card_timers WHERE fired_at IS NULL AND due_at <= $1", now
    )
    return due
