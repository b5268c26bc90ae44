"""Identity's subscriber: which cards people hold (card.events, activation.events)."""

from __future__ import annotations

from collections.abc import Sequence

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
RANK = {status: n for n, status in enumerate(CARD_STATUS.values())}
#: card.events and activation.events are two topics, so their events about one card may
#: arrive in either order: a status only ever moves forward.
_FORWARD = (
    " ON CONFLICT (card_id) DO UPDATE SET status = EXCLUDED.status"
    " WHERE array_position(ARRAY['applied','produced','mailed','active'], EXCLUDED.status)"
    " > array_position(ARRAY['applied','produced','mailed','active'], held_cards.status)"
)
# Both statements are constants (no input reaches the SQL text).
_UPSERT = "INSERT INTO held_cards (card_id, person_id, status) VALUES ($1, $2, $3)" + _FORWARD  # noqa: S608
_UPSERT_MANY = (
    "INSERT INTO held_cards (card_id, person_id, status)"  # noqa: S608
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])" + _FORWARD
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


async def apply_card_events(
    conn: Connection, events: Sequence[tuple[Envelope, EventPayload]]
) -> None:
    """The same as ``apply_card_event`` for a batch, in one statement: each card once, with
    the holder its first event names and the furthest status its events reach."""
    cards: dict[str, tuple[str, str]] = {}
    for envelope, payload in events:
        match payload:
            case CardApplied() | CardProduced() | CardMailed() | CardActivated():
                status = CARD_STATUS[payload.event_type]
                held = cards.get(payload.card_id)
                if held is None:
                    cards[payload.card_id] = (envelope.person_id, status)
                elif RANK[status] > RANK[held[1]]:
                    cards[payload.card_id] = (held[0], status)
    if cards:
        holders, statuses = zip(*cards.values(), strict=True)
        await conn.execute(_UPSERT_MANY, list(cards), list(holders), list(statuses))


def feed() -> ForeignFeed:
    """The identity group's feed: card.events and activation.events."""
    return ForeignFeed(
        group="identity",
        topics=CONSUMED_TOPICS["identity"],
        handles=set(CARD_STATUS),
        apply=apply_card_event,
        apply_many=apply_card_events,
    )
