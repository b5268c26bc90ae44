"""The notification service's pure domain: which message an event deserves, once.

The stream of a notification is named after the event it is about, so the decision
"already told" is made against that event's own history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.contracts import CardActivated, CardMailed, EventPayload, NotificationSent
from shared.contracts.notification import NotificationChannel

#: Activation channels as the citizen reads them.
CHANNEL_NAMES_ZH = {
    "window": "服务窗口",
    "online_hall": "网上服务大厅",
    "bank": "银行网点",
    "hospital": "定点医院",
    "pharmacy": "定点药店",
}


@dataclass(frozen=True)
class Message:
    """A rendered message: template name, language and text (no personal data in clear)."""

    template: str
    language: str
    text: str


def render(event: EventPayload) -> Message | None:
    """The message a citizen gets for an event, or None when it needs none."""
    match event:
        case CardMailed():
            return Message(
                "card_mailed",
                "zh-Hans",
                f"您的社会保障卡已寄出：{event.courier}，运单号 {event.tracking_number}。"
                "收到后请及时启用。",
            )
        case CardActivated():
            channel = CHANNEL_NAMES_ZH.get(event.channel, event.channel)
            return Message(
                "card_activated",
                "zh-Hans",
                f"您的社会保障卡已通过{channel}启用，医保账户恢复正常使用。"
                "首次结算前请修改初始密码。",
            )
        case _:
            return None


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
