"""The notification service's subscriber: identity, card and activation events in, messages
scheduled for delivery out (in the same transaction as the inbox rows).

A batch of events is decided together: one query learns what deciding needs of everyone in
it (preferences, ID tails, recent counts), one loads the streams of the events told of, one
appends every decision, one logs every message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.notification import domain, store
from services.notification.settings import NotificationSettings
from services.notification.templates import TEMPLATES
from shared import tracing
from shared.consumer import ForeignFeed
from shared.contracts import EventPayload, parse_payload
from shared.contracts.activation import SmsCodeIssued
from shared.contracts.identity import PersonalDataErased, PersonRegistered
from shared.contracts.notification import NotificationScheduled
from shared.db import Connection
from shared.envelope import Envelope
from shared.eventstore import Actor, Causation, EventStore, Write
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
        await self.many(conn, [(envelope, payload)])

    async def many(self, conn: Connection, batch: Sequence[tuple[Envelope, EventPayload]]) -> None:
        """Apply a batch of new events, in order."""
        # Whom to address comes first: a registration and a message may share a batch.
        for envelope, payload in batch:
            if isinstance(payload, PersonRegistered):
                await store.remember_recipient(
                    conn, envelope.person_id, payload.masked_id_number, payload.region
                )
            elif isinstance(payload, PersonalDataErased):
                await store.forget_person(conn, envelope.person_id)
            elif isinstance(payload, SmsCodeIssued):
                await store.keep_sealed_code(
                    conn, envelope.event_id_text, envelope.person_id, payload
                )
        told = [e for e, _ in batch if e.event_type in TEMPLATES]
        if not told:
            return
        known = await store.audience(
            conn, sorted({e.person_id for e in told}), self.settings.rate_window_s
        )
        streams = [domain.notification_stream(e.event_id_text) for e in told]
        histories = await self.events.load_many(conn, streams)
        decided: dict[tuple[str | None, str | None], list[Envelope]] = {}
        logged: list[tuple[str, Envelope, store.Row]] = []
        for about, stream in zip(told, streams, strict=True):
            history = histories.get(stream, [])
            state = domain.NOTIFICATION.fold(parse_payload(e) for e in history)
            new = self._decide(state, about, known)
            if new:
                cause = Causation.of_event(about)
                decided.setdefault((cause.actor, cause.channel), []).extend(
                    self.events.envelopes(
                        stream,
                        len(history),
                        about.person_id,
                        new,
                        cause,
                    )
                )
                state = domain.NOTIFICATION.fold(new, state)
            logged += [(about.person_id, about, row) for row in self._rows(state, about, known)]
        # Every decision of the batch in one append, each under who caused it.
        await self.events.append_writes(
            conn,
            [
                Write(
                    envelopes,
                    Actor(actor, channel),
                    tracing.of_causes([e.causation_id for e in envelopes]),
                    None,
                )
                for (actor, channel), envelopes in decided.items()
            ],
        )
        await store.log_rows(conn, logged)

    def _decide(
        self, state: domain.Notification, about: Envelope, known: store.Audience
    ) -> list[EventPayload]:
        if state.decided:
            return []  # already told (a rebuild replays the event): the log keeps its rows
        person = about.person_id
        preferences = known.preferences.get(person, domain.Preferences())
        language = preferences.language or self.settings.default_language
        template = TEMPLATES[about.event_type]
        # Deciding needs the template, not the text: the text is rendered once, for the log.
        message = domain.Message(
            template.name, template.required, language, text="", channels=template.channels
        )
        new = domain.decide(
            state,
            domain.Notify(
                about_event_id=about.event_id_text,
                about_event_type=about.event_type,
                message=message,
                preferences=preferences,
                recent=known.recent.get(person, 0),
                rate_limit=self.settings.rate_limit,
            ),
        )
        if any(isinstance(e, NotificationScheduled) for e in new):
            known.recent[person] = known.recent.get(person, 0) + 1  # counts for the next ones
        return new

    def _rows(
        self, state: domain.Notification, about: Envelope, known: store.Audience
    ) -> list[store.Row]:
        """The log rows of what was decided, each in the language it was decided in."""
        template = TEMPLATES[about.event_type]
        preferences = known.preferences.get(about.person_id, domain.Preferences())
        languages = {d.language for d in state.deliveries.values()} or {
            preferences.language or self.settings.default_language
        }
        id_tail = known.id_tails.get(about.person_id)
        bodies = {lang: template.render(about.payload, lang, id_tail) for lang in sorted(languages)}
        return store.rows_of(state, bodies, template.name, template.required)


def feed(events: EventStore, settings: NotificationSettings) -> ForeignFeed:
    """The notification group's feed: identity, card and activation events."""
    notifier = Notifier(events, settings)
    return ForeignFeed(
        group="notification",
        topics=CONSUMED_TOPICS["notification"],
        handles=NOTIFIED_EVENTS | ADDRESSING_EVENTS,
        apply=notifier,
        apply_many=notifier.many,
    )
