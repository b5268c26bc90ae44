"""The notification service's subscriber: card and activation events in, messages out."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from services.notification import domain, store
from shared.aggregate import decide_and_append
from shared.consumer import InboxConsumer
from shared.contracts import CardActivated, CardMailed, EventPayload
from shared.db import Connection
from shared.envelope import Envelope, new_event_id
from shared.eventstore import Causation, EventStore
from shared.settings import ServiceSettings

NOTIFIED_EVENTS = {CardMailed.event_type, CardActivated.event_type}


@dataclass(frozen=True)
class Notifier:
    """Turns an event the citizen must know of into a logged message and NotificationSent."""

    events: EventStore

    async def __call__(self, conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
        message = domain.render(payload)
        if message is None:
            return
        command = domain.NotifyCitizen(
            notification_id=str(new_event_id()),
            about_event_id=str(envelope.event_id),
            about_event_type=envelope.event_type,
            message=message,
            channel="app_push",
        )
        sent = await decide_and_append(
            conn,
            self.events,
            stream_id=f"notification-{envelope.event_id}",
            person_id=envelope.person_id,
            initial=domain.Notification(),
            evolve=domain.evolve,
            decide=lambda state: domain.decide(state, command),
            causation=Causation.of_event(envelope),
        )
        if sent:
            await store.log_message(conn, envelope.person_id, command)


def notification_consumer(
    settings: ServiceSettings, events: EventStore, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> InboxConsumer:
    """The notification group's consumer of card.events and activation.events."""
    return InboxConsumer(
        pool=pool,
        group="notification",
        handles=NOTIFIED_EVENTS,
        apply=Notifier(events),
        dead_letters=producer,
        crash_after_commit=settings.fault_crash_after_commit,
    )
