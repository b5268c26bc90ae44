"""The card service's subscribers: what it learns from identity.events."""

from __future__ import annotations

import asyncpg
from aiokafka import AIOKafkaProducer

from shared import verified
from shared.consumer import InboxConsumer
from shared.contracts import EventPayload, IdentityVerified
from shared.db import Connection
from shared.envelope import Envelope
from shared.settings import ServiceSettings


async def apply_identity_event(conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
    """Remember verified persons, so applications can check who is verified."""
    if isinstance(payload, IdentityVerified):
        await verified.record_verification(conn, envelope.person_id, payload.level)


def identity_consumer(
    settings: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> InboxConsumer:
    """The card group's consumer of identity.events."""
    return InboxConsumer(
        pool=pool,
        group="card",
        handles={IdentityVerified.event_type},
        apply=apply_identity_event,
        dead_letters=producer,
        crash_after_commit=settings.fault_crash_after_commit,
    )
