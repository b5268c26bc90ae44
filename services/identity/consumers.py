"""Identity's subscriber: which cards people hold (card.events, activation.events)."""

from __future__ import annotations

from collections.abc import Sequence

from services.identity import store
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
                elif store.RANK[status] > store.RANK[held[1]]:
                    cards[payload.card_id] = (held[0], status)
    if cards:
        holders, statuses = zip(*cards.values(), strict=True)
        await store.remember_cards(conn, list(cards), list(holders), list(statuses))


def feed() -> ForeignFeed:
    """The identity group's feed: card.events and activation.events."""
    return ForeignFeed(
        group="identity",
        topics=CONSUMED_TOPICS["identity"],
        handles=set(CARD_STATUS),
        apply=apply_card_event,
        apply_many=apply_card_events,
    )
