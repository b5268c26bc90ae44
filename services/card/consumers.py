"""The card service's subscriber: identity.events (who is verified, family links) and
activation.events (which cards are active)."""

from __future__ import annotations

from shared import verified
from shared.consumer import ForeignFeed
from shared.contracts import (
    CardActivated,
    EventPayload,
    FamilyMemberLinked,
    FamilyMemberUnlinked,
    IdentityVerified,
)
from shared.db import Connection
from shared.envelope import Envelope
from shared.topics import CONSUMED_TOPICS

HANDLED = {
    IdentityVerified.event_type,
    FamilyMemberLinked.event_type,
    FamilyMemberUnlinked.event_type,
    CardActivated.event_type,
}


async def apply_foreign_event(conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
    """Learn who is verified, who may act for whom, and which cards are active."""
    match payload:
        case IdentityVerified():
            await verified.record_verification(
                conn, envelope.person_id, payload.level, payload.verified_at
            )
        case FamilyMemberLinked():
            await conn.execute(
                "INSERT INTO family_links VALUES ($1, $2) ON CONFLICT DO NOTHING",
                envelope.person_id,
                payload.member_person_id,
            )
        case FamilyMemberUnlinked():
            await conn.execute(
                "DELETE FROM family_links WHERE holder_person_id = $1 AND member_person_id = $2",
                envelope.person_id,
                payload.member_person_id,
            )
        case CardActivated():
            await conn.execute(
                "UPDATE cards SET activated = true WHERE card_id = $1", payload.card_id
            )


def feed() -> ForeignFeed:
    """The card group's feed: identity.events and activation.events."""
    return ForeignFeed(
        group="card",
        topics=CONSUMED_TOPICS["card"],
        handles=HANDLED,
        apply=apply_foreign_event,
    )
