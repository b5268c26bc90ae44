"""Identity's subscriber: which cards people hold (card.events, activation.events)."""

from __future__ import annotations

from shared.consumer import ForeignFeed
from shared.contracts import CardActivated, CardApplied, CardMailed, CardProduced, EventPayload
from shared.db import Connection
from shared.envelope import Envelope
from shared.topics import CONSUMED_TOPICS

CARD_STATUS = {
    CardApplied.event_type: "applied",
    CardProduced.event_type: "produced",
    CardMailed.event_type: "mailed",
    CardActivated.event_type: "active",
}
#: card.events and activation.events are two topics, so their events about one card may
#: arrive in either order: a status only ever moves forward.
_UPSERT = (
    "INSERT INTO held_cards (card_id, person_id, status) VALUES ($1, $2, $3)"
    " ON CONFLICT (card_id) DO UPDATE SET status = EXCLUDED.status"
    " WHERE array_position(ARRAY['applied','produced','mailed','active'], EXCLUDED.status)"
    " > array_position(ARRAY['applied','produced','mailed','active'], held_cards.status)"
)


async def apply_card_event(conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
    """Remember each card's holder and status."""
    match payload:
        case CardApplied() | CardProduced() | CardMailed() | CardActivated():
            await conn.execute(
                _UPSERT,
                payload.card_id,
                envelope.person_id,
                CARD_STATUS[payload.event_type],
            )


def feed() -> ForeignFeed:
    """The identity group's feed: card.events and activation.events."""
    return ForeignFeed(
        group="identity",
        topics=CONSUMED_TOPICS["identity"],
        handles=set(CARD_STATUS),
        apply=apply_card_event,
    )
