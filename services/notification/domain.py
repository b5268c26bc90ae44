"""The notification service's pure domain: which messages an event deserves, on which
channels, and how each delivery ends, once.

The stream of a notification is named after the event it is about, so "already told" is
decided against that event's own history. A person's preferences are a stream of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import uuid_utils

from services.notification.errors import (
    ContactMissingError,
    NoChannelError,
    NotFailedError,
    NotificationNotFoundError,
)
from services.notification.templates import TEMPLATES
from shared.contracts import EventPayload
from shared.contracts.notification import (
    Language,
    NotificationChannel,
    NotificationFailed,
    NotificationPreferencesChanged,
    NotificationRetried,
    NotificationScheduled,
    NotificationSent,
    NotificationSuppressed,
)
from shared.decider import Decider

#: Namespace of message ids: one id per (event, channel), the same however often it is decided.
#: (uuid-utils: the standard uuid5, ten times cheaper than the standard library's.)
MESSAGE_NAMESPACE = uuid_utils.UUID("6f0f1d3e-5c1b-4c55-9d5e-0b7d3c9a2f10")

DeliveryStatus = Literal["scheduled", "sent", "failed"]


def notification_id(about_event_id: str, channel: str) -> str:
    """The message's id (also its idempotency key at the gateway)."""
    return str(uuid_utils.uuid5(MESSAGE_NAMESPACE, f"{about_event_id}:{channel}"))


def notification_stream(about_event_id: str) -> str:
    """The stream of what the citizen was told about one event."""
    return NOTIFICATION.stream(about_event_id)


def preferences_stream(person_id: str) -> str:
    """The stream of one person's choices."""
    return PREFERENCES.stream(person_id)


@dataclass(frozen=True)
class Message:
    """A rendered message: template, whether it is required, language and text."""

    template: str
    required: bool
    language: Language
    text: str
    #: Channels it goes by whatever the person chose, or None.
    channels: tuple[str, ...] | None = None


def render(
    event_type: str,
    payload: dict[str, Any],
    language: Language = "zh-Hans",
    id_tail: str | None = None,
) -> Message | None:
    """The message a citizen gets for an event, or None when it needs none."""
    template = TEMPLATES.get(event_type)
    if template is None:
        return None
    return Message(
        template.name,
        template.required,
        language,
        template.render(payload, language, id_tail),
        template.channels,
    )


# --- preferences -------------------------------------------------------------------------


@dataclass(frozen=True)
class Preferences:
    """How a person wants to be told; a person who chose nothing gets app pushes."""

    channels: tuple[NotificationChannel, ...] = ("app_push",)
    language: Language | None = None
    optional_messages: bool = True


@dataclass(frozen=True)
class ChoosePreferences:
    channels: tuple[NotificationChannel, ...]
    language: Language
    optional_messages: bool
    masked_phone: str | None
    masked_email: str | None


def decide_preferences(_: Preferences, command: ChoosePreferences) -> list[EventPayload]:
    """Record a person's choice: at least one channel, each with its contact."""
    channels = tuple(dict.fromkeys(command.channels))
    if not channels:
        raise NoChannelError
    if ("sms" in channels and command.masked_phone is None) or (
        "email" in channels and command.masked_email is None
    ):
        raise ContactMissingError
    return [
        NotificationPreferencesChanged(
            channels=list(channels),
            language=command.language,
            optional_messages=command.optional_messages,
            masked_phone=command.masked_phone,
            masked_email=command.masked_email,
        )
    ]


def evolve_preferences(state: Preferences, event: EventPayload) -> Preferences:
    """Apply a preferences event."""
    if isinstance(event, NotificationPreferencesChanged):
        return Preferences(tuple(event.channels), event.language, event.optional_messages)
    return state


# --- telling of an event -----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One message on one channel, and where its delivery stands."""

    notification_id: str
    channel: NotificationChannel
    template: str
    language: str
    status: DeliveryStatus = "scheduled"


@dataclass(frozen=True)
class Notification:
    """What was decided and delivered about one event."""

    about_event_id: str | None = None
    about_event_type: str | None = None
    decided: bool = False
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    #: Why nothing was sent (an optional message the person opted out of, or rate-limited).
    suppressed: str | None = None


@dataclass(frozen=True)
class Notify:
    """Tell a person of an event, as their preferences and the rate limit allow.

    ``recent`` is how many messages the person got within the rate window; ``rate_limit``
    how many that window allows for messages that are not required."""

    about_event_id: str
    about_event_type: str
    message: Message
    preferences: Preferences
    recent: int
    rate_limit: int


def decide(state: Notification, command: Notify) -> list[EventPayload]:
    """Once per event: scheduled on each chosen channel, or suppressed when optional."""
    if state.decided:
        return []
    message = command.message
    suppressed: Literal["opted_out", "rate_limited"] | None = None
    if not message.required and not command.preferences.optional_messages:
        suppressed = "opted_out"
    elif not message.required and command.recent >= command.rate_limit:
        suppressed = "rate_limited"
    if suppressed is not None:
        return [
            NotificationSuppressed(
                about_event_id=command.about_event_id,
                about_event_type=command.about_event_type,
                template=message.template,
                reason=suppressed,
            )
        ]
    return [
        NotificationScheduled(
            notification_id=notification_id(command.about_event_id, channel),
            about_event_id=command.about_event_id,
            about_event_type=command.about_event_type,
            channel=channel,
            template=message.template,
            language=message.language,
            required=message.required,
        )
        for channel in (message.channels or command.preferences.channels)
    ]


@dataclass(frozen=True)
class RecordSent:
    notification_id: str


@dataclass(frozen=True)
class RecordFailed:
    notification_id: str
    attempts: int
    reason: str


@dataclass(frozen=True)
class Retry:
    notification_id: str
    operator: str


def decide_outcome(
    state: Notification, command: RecordSent | RecordFailed | Retry
) -> list[EventPayload]:
    """How one delivery ended, recorded once; a failed one may be retried by an operator."""
    delivery = state.deliveries.get(command.notification_id)
    if delivery is None or state.about_event_id is None or state.about_event_type is None:
        raise NotificationNotFoundError
    if isinstance(command, Retry):
        if delivery.status != "failed":
            raise NotFailedError
        return [
            NotificationRetried(
                notification_id=delivery.notification_id,
                channel=delivery.channel,
                operator=command.operator,
            )
        ]
    if delivery.status != "scheduled":
        return []  # already recorded: a second dispatcher or a replay changes nothing
    about = {"about_event_id": state.about_event_id, "about_event_type": state.about_event_type}
    if isinstance(command, RecordSent):
        return [
            NotificationSent(
                notification_id=delivery.notification_id,
                channel=delivery.channel,
                template=delivery.template,
                language=delivery.language,
                **about,
            )
        ]
    return [
        NotificationFailed(
            notification_id=delivery.notification_id,
            channel=delivery.channel,
            attempts=command.attempts,
            reason=command.reason,
            **about,
        )
    ]


def evolve(state: Notification, event: EventPayload) -> Notification:
    """Apply one of the notification's events."""
    match event:
        case NotificationScheduled():
            return _told(state, event, "scheduled")
        case NotificationSuppressed():
            return replace(
                state,
                about_event_id=event.about_event_id,
                about_event_type=event.about_event_type,
                decided=True,
                suppressed=event.reason,
            )
        case NotificationSent():
            # Before deliveries were scheduled, a message was recorded as sent at once.
            return _told(state, event, "sent")
        case NotificationFailed():
            return _set_status(state, event.notification_id, "failed")
        case NotificationRetried():
            return _set_status(state, event.notification_id, "scheduled")
        case _:
            return state


def _told(
    state: Notification,
    event: NotificationScheduled | NotificationSent,
    status: DeliveryStatus,
) -> Notification:
    """The state once a delivery is known, with the status it has."""
    delivery = Delivery(
        event.notification_id, event.channel, event.template, event.language, status
    )
    return replace(
        state,
        about_event_id=event.about_event_id,
        about_event_type=event.about_event_type,
        decided=True,
        deliveries={**state.deliveries, event.notification_id: delivery},
    )


def _set_status(state: Notification, nid: str, status: DeliveryStatus) -> Notification:
    delivery = state.deliveries.get(nid)
    if delivery is None:
        return state
    return replace(state, deliveries={**state.deliveries, nid: replace(delivery, status=status)})


#: A person's choice of channels; streams ``preferences-<person id>``.
PREFERENCES: Decider[Preferences, ChoosePreferences] = Decider(
    "preferences", Preferences(), evolve_preferences, decide_preferences
)
#: What the citizen was told about one event; streams ``notification-<event id>``.
NOTIFICATION: Decider[Notification, RecordSent | RecordFailed | Retry] = Decider(
    "notification", Notification(), evolve, decide_outcome
)
