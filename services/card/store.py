"""The card service's read models: verified persons (from identity) and cards (its own)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.envelope import Envelope

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
