"""The activation service's read models, learned from identity and card events."""

from __future__ import annotations

from services.activation.domain import CardFacts
from shared import facts, verified
from shared.consumer import ForeignFeed
from shared.db import Connection
from shared.rebuild import Projection


async def record_card_status(
    conn: Connection, card_id: str, person_id: str, status: str, region: str | None = None
) -> None:
    """Remember a card's holder, latest status and (from CardApplied) its region: one
    statement for every card event, so a batch of them goes as one."""
    await conn.execute(
        "INSERT INTO known_cards (card_id, person_id, status, region) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (card_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now(),"
        " region = coalesce(EXCLUDED.region, known_cards.region)",
        card_id,
        person_id,
        status,
        region,
    )


async def record_loss(conn: Connection, card_id: str, kind: str | None) -> None:
    """Remember that a card is reported lost (or no longer)."""
    await conn.execute("UPDATE known_cards SET lost = $2 WHERE card_id = $1", card_id, kind)


async def holder_of(conn: Connection, card_id: str) -> str | None:
    """The person holding a card, if known."""
    person_id: str | None = await conn.fetchval(
        "SELECT person_id FROM known_cards WHERE card_id = $1", card_id
    )
    return person_id


async def card_facts(conn: Connection, card_id: str) -> CardFacts | None:
    """What we know of a card, or None."""
    row = await conn.fetchrow(
        "SELECT k.person_id, k.status, k.lost, r.old_card_id FROM known_cards k"
        " LEFT JOIN replacements r ON r.new_card_id = k.card_id WHERE k.card_id = $1",
        card_id,
    )
    if row is None:
        return None
    return CardFacts(row["person_id"], row["status"], row["lost"], row["old_card_id"])


async def record_replacement(conn: Connection, old_card_id: str, new_card_id: str) -> None:
    """Remember which card a replacement replaces."""
    await conn.execute(
        "INSERT INTO replacements VALUES ($1, $2) ON CONFLICT DO NOTHING", new_card_id, old_card_id
    )


def projection(feed: ForeignFeed) -> Projection:
    """The activation service's derived state, all learned from foreign events."""
    return Projection(
        tables={
            "verified_persons": verified.COLUMNS,
            "person_facts": facts.COLUMNS,
            "known_cards": ("card_id", "person_id", "status", "lost", "region"),
            "replacements": ("new_card_id", "old_card_id"),
            "family_links": ("holder_person_id", "member_person_id"),
            "claimed_ecards": ("person_id", "card_id", "region", "suspended"),
            "ecard_channels": ("person_id", "channel"),
        },
        foreign=feed,
    )


async def card_region(conn: Connection, card_id: str) -> str | None:
    """The card's region, if known."""
    region: str | None = await conn.fetchval(
        "SELECT region FROM known_cards WHERE card_id = $1", card_id
    )
    return region


async def password_hash(conn: Connection, card_id: str, kind: str) -> str | None:
    """The Argon2id hash of a changed password, or None (the initial one applies)."""
    stored: str | None = await conn.fetchval(
        "SELECT hash FROM card_passwords WHERE card_id = $1 AND card_kind = $2", card_id, kind
    )
    return stored


async def store_password_hash(conn: Connection, card_id: str, kind: str, hashed: str) -> None:
    """Keep the hash of a new password."""
    await conn.execute(
        "INSERT INTO card_passwords VALUES ($1, $2, $3)"
        " ON CONFLICT (card_id, card_kind) DO UPDATE SET hash = EXCLUDED.hash",
        card_id,
        kind,
        hashed,
    )


async def may_act_for(conn: Connection, holder: str, member: str) -> bool:
    """Whether identity's events say ``member`` is a linked family member of ``holder``."""
    linked = await conn.fetchval(
        "SELECT true FROM family_links WHERE holder_person_id = $1 AND member_person_id = $2",
        holder,
        member,
    )
    return bool(linked)


async def set_family_link(conn: Connection, holder: str, member: str, linked: bool) -> None:
    """Remember a family link, or forget it."""
    if linked:
        await conn.execute(
            "INSERT INTO family_links VALUES ($1, $2) ON CONFLICT DO NOTHING", holder, member
        )
    else:
        await conn.execute(
            "DELETE FROM family_links WHERE holder_person_id = $1 AND member_person_id = $2",
            holder,
            member,
        )


async def record_ecard(conn: Connection, person_id: str, card_id: str, region: str | None) -> None:
    """Remember the person's e-card and the physical card it is bound to."""
    await conn.execute(
        "INSERT INTO claimed_ecards (person_id, card_id, region) VALUES ($1, $2, coalesce($3, ''))"
        " ON CONFLICT (person_id) DO UPDATE SET card_id = EXCLUDED.card_id, suspended = NULL,"
        " region = CASE WHEN $3::text IS NULL THEN claimed_ecards.region ELSE $3 END",
        person_id,
        card_id,
        region,
    )


async def suspend_ecard(conn: Connection, person_id: str, reason: str) -> None:
    """The e-card's services stopped (its card lost, locked or no longer valid)."""
    await conn.execute(
        "UPDATE claimed_ecards SET suspended = $2 WHERE person_id = $1", person_id, reason
    )


async def ecard_suspension(conn: Connection, person_id: str) -> str | None:
    """Why the person's e-card is suspended, or None."""
    reason: str | None = await conn.fetchval(
        "SELECT suspended FROM claimed_ecards WHERE person_id = $1", person_id
    )
    return reason


async def ecard_region(conn: Connection, person_id: str) -> str:
    """The region chosen when the person's e-card was claimed."""
    region: str | None = await conn.fetchval(
        "SELECT region FROM claimed_ecards WHERE person_id = $1", person_id
    )
    return region or ""


async def ecard_of(conn: Connection, person_id: str) -> str | None:
    """The physical card the person's e-card is bound to, if claimed."""
    card_id: str | None = await conn.fetchval(
        "SELECT card_id FROM claimed_ecards WHERE person_id = $1", person_id
    )
    return card_id


async def bind_channel(conn: Connection, person_id: str, channel: str, bound: bool) -> None:
    """Remember that the person's e-card is bound to ``channel`` (or no longer)."""
    if bound:
        await conn.execute(
            "INSERT INTO ecard_channels VALUES ($1, $2) ON CONFLICT DO NOTHING", person_id, channel
        )
    else:
        await conn.execute(
            "DELETE FROM ecard_channels WHERE person_id = $1 AND channel = $2", person_id, channel
        )


async def unbind_channels(conn: Connection, person_id: str) -> None:
    """Forget every channel bound to the person's e-card."""
    await conn.execute("DELETE FROM ecard_channels WHERE person_id = $1", person_id)


async def channel_bound(conn: Connection, person_id: str, channel: str) -> bool:
    """Whether the person's e-card is bound to ``channel`` now."""
    bound = await conn.fetchval(
        "SELECT true FROM ecard_channels WHERE person_id = $1 AND channel = $2", person_id, channel
    )
    return bool(bound)
