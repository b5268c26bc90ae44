"""The card service's read models: verified persons (from identity) and cards (its own)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared import verified
from shared.consumer import ForeignFeed
from shared.db import Connection
from shared.envelope import Envelope
from shared.rebuild import Projection

_STATUS_AFTER = {"CardApplied": "applied", "CardProduced": "produced", "CardMailed": "mailed"}


async def project_cards(conn: Connection, envelopes: Sequence[Envelope]) -> None:
    """Keep the cards read model in step with the events just appended."""
    for e in envelopes:
        status = _STATUS_AFTER.get(e.event_type)
        if status is None:
            continue
        if e.event_type == "CardApplied":
            await conn.execute(
                "INSERT INTO cards (card_id, person_id, stream_id, region, status)"
                " VALUES ($1, $2, $3, $4, $5)",
                e.payload["card_id"],
                e.person_id,
                e.stream_id,
                e.payload["region"],
                status,
            )
        else:
            await conn.execute(
                "UPDATE cards SET status = $2, updated_at = now() WHERE card_id = $1",
                e.payload["card_id"],
                status,
            )


async def find_card(conn: Connection, card_id: str) -> asyncpg.Record | None:
    """A card's holder, stream, region and status."""
    return await conn.fetchrow(
        "SELECT card_id, person_id, stream_id, region, status FROM cards WHERE card_id = $1",
        card_id,
    )


async def cards_in_status(conn: Connection, status: str, limit: int) -> list[asyncpg.Record]:
    """Cards waiting in a status, oldest first (e.g. applications awaiting production)."""
    return await conn.fetch(
        "SELECT card_id, person_id, region, status FROM cards WHERE status = $1"
        " ORDER BY updated_at LIMIT $2",
        status,
        limit,
    )


async def project_card(conn: Connection, envelope: Envelope) -> None:
    """Rebuild step: one of the service's own events into the cards read model."""
    await project_cards(conn, [envelope])


def projection(feed: ForeignFeed) -> Projection:
    """The card service's derived state: verified persons (from identity) and cards."""
    return Projection(
        tables={
            "verified_persons": verified.COLUMNS,
            "cards": ("card_id", "person_id", "stream_id", "region", "status"),
        },
        apply_own=project_card,
        foreign=feed,
    )
