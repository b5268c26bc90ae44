"""The activation service's subscribers: identity.events and card.events."""

from __future__ import annotations

import asyncpg
from aiokafka import AIOKafkaProducer

from services.activation import store
from shared import verified
from shared.consumer import InboxConsumer
from shared.contracts import (
    CardApplied,
    CardMailed,
    CardProduced,
    EventPayload,
    IdentityVerified,
)
from shared.db import Connection
from shared.envelope import Envelope
from shared.settings import ServiceSettings

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


def foreign_consumer(
    settings: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> InboxConsumer:
    """The activation group's consumer of identity.events and card.events."""
    return InboxConsumer(
        pool=pool,
        group="activation",
        handles={IdentityVerified.event_type, *CARD_STATUS},
        apply=apply_foreign_event,
        dead_letters=producer,
        crash_after_commit=settings.fault_crash_after_commit,
    )
