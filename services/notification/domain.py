"""The notification service's pure domain: which message an event deserves, once.

The stream of a notification is named after the event it is about, so the decision
"already told" is made against that event's own history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from services.notification.templates import TEMPLATES
from shared.contracts import EventPayload, NotificationSent
from shared.contracts.notification import NotificationChannel


@dataclass(frozen=True)
class Message:
    """A rendered message: template name, language and text (no personal data in clear)."""

    template: str
    language: str
    text: str


def render(event_type: str, payload: dict[str, Any], language: str = "zh-Hans") -> Message | None:
    """The message a citizen gets for an event, or None when it needs none."""
    template = TEMPLATES.get(event_type)
    if template is None:
        return None
    return Message(template.name, language, template.render(payload, language))


@dataclass(frozen=True)
class NotifyCitizen:
    notification_id: str
    about_event_id: str
    about_event_type: str
    message: Message
    channel: NotificationChannel


@dataclass(frozen=True)
class Notification:
    """What was already sent about one event."""

    notification_id: str | None = None


def decide(state: Notification, command: NotifyCitizen) -> list[EventPayload]:
    """Send once: nothing when the citizen was already told of this event."""
    if state.notification_id is not None:
        return []
    return [
        NotificationSent(
            notification_id=command.notification_id,
            about_event_id=command.about_event_id,
            about_event_type=command.about_event_type,
            channel=command.channel,
            template=command.message.template,
            language=command.message.language,
        )
    ]


def evolve(state: Notification, event: EventPayload) -> Notification:
    """Apply one of the notification's events."""
    match event:
        case NotificationSent():
            return replace(state, notification_id=event.notification_id)
        case _:
            return state
