"""The card service's subscribers: what it learns from identity.events."""

from __future__ import annotations

from shared import verified
from shared.consumer import ForeignFeed
from shared.contracts import EventPayload, IdentityVerified
from shared.db import Connection
from shared.envelope import Envelope
from shared.topics import CONSUMED_TOPICS


async def apply_identity_event(conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
    """Remember verified persons, so applications can check who is verified."""
    if isinstance(payload, IdentityVerified):
        await verified.record_verification(conn, envelope.person_id, payload.level)


def feed() -> ForeignFeed:
    """The card group's feed: identity.events."""
    return ForeignFeed(
        group="card",
        topics=CONSUMED_TOPICS["card"],
        handles={IdentityVerified.event_type},
        apply=apply_identity_event,
    )
