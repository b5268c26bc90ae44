"""The activation service's subscribers: identity.events and card.events."""

from __future__ import annotations

from services.activation import store
from shared import verified
from shared.consumer import ForeignFeed
from shared.contracts import (
    CardApplied,
    CardMailed,
    CardProduced,
    EventPayload,
    IdentityVerified,
)
from shared.db import Connection
from shared.envelope import Envelope
from shared.topics import CONSUMED_TOPICS

CARD_STATUS = {
    CardApplied.event_type: "applied",
    CardProduced.event_type: "produced",
    CardMailed.event_type: "mailed",
}


async def apply_foreign_event(conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
    """Learn who is verified and where each card is."""
    match payload:
        case IdentityVerified():
            await verified.record_verification(conn, envelope.person_id, payload.level)
        case CardApplied() | CardProduced() | CardMailed():
            status = CARD_STATUS[payload.event_type]
            await store.record_card_status(conn, payload.card_id, envelope.person_id, status)


def feed() -> ForeignFeed:
    """The activation group's feed: identity.events and card.events."""
    return ForeignFeed(
        group="activation",
        topics=CONSUMED_TOPICS["activation"],
        handles={IdentityVerified.event_type, *CARD_STATUS},
        apply=apply_foreign_event,
    )
