"""The notification service's subscriber: identity, card and activation events in, messages
scheduled for delivery out (in the same transaction as the inbox row)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from services.notification import domain, store
from services.notification.settings import NotificationSettings
from services.notification.templates import TEMPLATES
from shared.aggregate import load_state
from shared.consumer import ForeignFeed
from shared.contracts import EventPayload, PersonalDataErased, PersonRegistered
from shared.db import Connection
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.topics import CONSUMED_TOPICS

NOTIFIED_EVENTS = set(TEMPLATES)
ADDRESSING_EVENTS = {PersonRegistered.event_type, PersonalDataErased.event_type}


@dataclass(frozen=True)
class Notifier:
    """Decides, once per event, what the citizen is told and on which channels, and logs it;
    the dispatcher delivers what was scheduled."""

    events: EventStore
    settings: NotificationSettings

    async def __call__(self, conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
        person_id = envelope.person_id
        if isinstance(payload, PersonRegistered):
            await store.remember_recipient(
                conn, person_id, payload.masked_id_number, payload.region
            )
            return
        if isinstance(payload, PersonalDataErased):
            await store.forget_person(conn, person_id)
            return
        template = TEMPLATES.get(envelope.event_type)
        if template is None:
            return
        stream_id = domain.notification_stream(str(envelope.event_id))
        state, version = await load_state(
            conn, self.events, stream_id, domain.Notification(), domain.evolve
        )
        preferences = await store.preferences_of(conn, person_id) or domain.Preferences()
        language = preferences.language or self.settings.default_language
        id_tail = await store.id_tail_of(conn, person_id)
        if not state.decided:
            message = domain.render(envelope.event_type, envelope.payload, language, id_tail)
            assert message is not None  # a template exists
            command = domain.Notify(
                about_event_id=str(envelope.event_id),
                about_event_type=envelope.event_type,
                message=message,
                preferences=preferences,
                recent=await store.recent_count(conn, person_id, self.settings.rate_window_s),
                rate_limit=self.settings.rate_limit,
            )
            decided = domain.decide(state, command)
            causation = Causation.of_event(envelope)
            envelopes = self.events.envelopes(stream_id, version, person_id, decided, causation)
            await self.events.append(conn, envelopes, causation)
            state = functools.reduce(domain.evolve, decided, state)
        # What each delivery says, in the language it was decided in (a rebuild re-renders).
        languages = {d.language for d in state.deliveries.values()} or {language}
        bodies = {
            lang: template.render(envelope.payload, lang, id_tail) for lang in sorted(languages)
        }
        rows = store.rows_of(state, bodies, template.name, template.required)
        await store.log_rows(conn, person_id, envelope, rows)


def feed(events: EventStore, settings: NotificationSettings) -> ForeignFeed:
    """The notification group's feed: identity, card and activation events."""
    return ForeignFeed(
        group="notification",
        topics=CONSUMED_TOPICS["notification"],
        handles=NOTIFIED_EVENTS | ADDRESSING_EVENTS,
        apply=Notifier(events, settings),
    )
