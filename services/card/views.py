"""The card service's reads: a card with the events that explain it, the production queue."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.card import store
from services.card.errors import CardNotFoundError
from shared.db import Connection


class CardView(BaseModel):
    """A card as the citizen sees it, with the events that explain its status."""

    card_id: str = Field(description="Id of the card.")
    person_id: str = Field(description="Its holder.")
    region: str = Field(description="Insured region it was issued for.")
    status: str = Field(description="Its status (申领, 制卡中 ... 已启用 as events tell).")
    lost: str | None = Field(description="temporary or formal when reported lost.")
    activated: bool = Field(description="Whether the activation service activated it.")
    explained_by: list[str] = Field(
        default_factory=list, description="event_type@event_id of the events about this card."
    )


async def card(conn: Connection, card_id: str) -> CardView:
    """A card's holder, region and status, with the events that explain it."""
    row = await store.explained_card(conn, card_id)
    if row is None:
        raise CardNotFoundError()
    return CardView(**dict(row))


async def pending(conn: Connection, limit: int) -> list[CardView]:
    """Applications waiting for production, oldest first."""
    return [CardView(**dict(r)) for r in await store.cards_in_status(conn, "applied", limit)]
