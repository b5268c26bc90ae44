"""The activation service's read models, learned from identity and card events."""

from __future__ import annotations

from services.activation.domain import CardFacts
from shared import verified
from shared.consumer import ForeignFeed
from shared.db import Connection
from shared.rebuild import Projection


async def record_card_status(conn: Connection, card_id: str, person_id: str, status: str) -> None:
    """Remember a card's holder and latest status."""
    await conn.execute(
        "INSERT INTO known_cards (card_id, person_id, status) VALUES ($1, $2, $3)"
        " ON CONFLICT (card_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()",
        card_id,
        person_id,
        status,
    )


async def record_loss(conn: Connection, card_id: str, kind: str | None) -> None:
    """Remember that a card is reported lost (or no longer)."""
    await conn.execute("UPDATE known_cards SET lost = $2 WHERE card_id = $1", card_id, kind)


async def card_facts(conn: Connection, card_id: str) -> CardFacts | None:
    """What we know of a card, or None."""
    row = await conn.fetchrow(
        "SELECT person_id, status, lost FROM known_cards WHERE card_id = $1", card_id
    )
    return CardFacts(row["person_id"], row["status"], row["lost"]) if row else None


def projection(feed: ForeignFeed) -> Projection:
    """The activation service's derived state, all learned from foreign events."""
    return Projection(
        tables={
            "verified_persons": verified.COLUMNS,
            "known_cards": ("card_id", "person_id", "status", "lost"),
        },
        foreign=feed,
    )
