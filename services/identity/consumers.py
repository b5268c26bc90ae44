"""Identity's subscriber: which cards people hold (card.events, activation.events)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.consumer import ForeignFeed
from shared.contracts import EventPayload
from shared.contracts.activation import CardActivated
from shared.contracts.card import CardApplied, CardMailed, CardProduced
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
_ORDER = "ARRAY[" + ", ".join(f"'{status}'" for status in RANK) + "]"
#: card.events and activation.events are two topics, so their events about one card may
#: arrive in either order: a status only ever moves forward. (Constants only in the text.)
_UPSERT = (
    "INSERT INTO held_cards (card_id, person_id, status)"  # noqa: S608
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
    " ON CONFLICT (card_id) DO UPDATE SET status = EXCLUDED.status"
    f" WHERE array_position({_ORDER}, EXCLUDED.status)"
    f" > array_position({_ORDER}, held_cards.status)"
)


async def apply_card_event(conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
    """Remember each card's holder and status."""
    await apply_card_events(conn, [(envelope, payload)])


async def apply_card_events(
    conn: Connection, events: Sequence[tuple[Envelope, EventPayload]]
) -> None:
    """Remember each card's holder and status for a batch, in one statement: each card once,
    with the holder its first event names and the furthest status its events reach."""
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
        await conn.execute(_UPSERT, list(cards), list(holders), list(statuses))


def feed() -> ForeignFeed:
    """The identity group's feed: card.events and activation.events."""
    return ForeignFeed(
        group="identity",
        topics=CONSUMED_TOPICS["identity"],
        handles=set(CARD_STATUS),
        apply=apply_card_event,
        apply_many=apply_card_events,
    )
