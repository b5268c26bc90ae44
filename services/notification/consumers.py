"""The notification service's subscriber: card and activation events in, messages out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from services.notification import domain, store
from services.notification.templates import TEMPLATES
from shared.aggregate import load_state
from shared.consumer import ForeignFeed
from shared.contracts import EventPayload
from shared.db import Connection
from shared.envelope import Envelope, new_event_id
from shared.eventstore import Causation, EventStore
from shared.topics import CONSUMED_TOPICS

NOTIFIED_EVENTS = set(TEMPLATES)


@dataclass(frozen=True)
class Notifier:
    """Turns an event the citizen must know of into a logged message and NotificationSent."""

    events: EventStore
    language: str = "zh-Hans"

    async def __call__(self, conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
        message = domain.render(envelope.event_type, envelope.payload, self.language)
        if message is None:
            return
        command = domain.NotifyCitizen(
            notification_id=str(new_event_id()),
            about_event_id=str(envelope.event_id),
            about_event_type=envelope.event_type,
            message=message,
            channel="app_push",
        )
        stream_id = f"notification-{envelope.event_id}"
        state, version = await load_state(
            conn, self.events, stream_id, domain.Notification(), domain.evolve
        )
        if state.notification_id is not None:
            # Already told (a rebuild replays the event): the log keeps the one message.
            command = dataclasses.replace(command, notification_id=state.notification_id)
        else:
            sent = self.events.envelopes(
                stream_id,
                version,
                envelope.person_id,
                domain.decide(state, command),
                Causation.of_event(envelope),
            )
            await self.events.append(conn, sent, Causation.of_event(envelope))
        await store.log_message(conn, envelope.person_id, command)


def feed(events: EventStore, language: str = "zh-Hans") -> ForeignFeed:
    """The notification group's feed: identity, card and activation events."""
    return ForeignFeed(
        group="notification",
        topics=CONSUMED_TOPICS["notification"],
        handles=NOTIFIED_EVENTS,
        apply=Notifier(events, language),
    )
