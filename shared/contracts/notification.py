"""Events published by the notification service on ``notification.events``.

One stream per event a citizen was told of (``notification-<event id>``): what was decided
(scheduled per channel, or suppressed), then how each delivery ended (sent, or failed and
perhaps retried by an operator). Contact details never travel: masked forms only.
"""

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload
from shared.topics import Producer

NotificationChannel = Literal["app_push", "sms", "email"]
Language = Literal["zh-Hans", "en"]
SuppressionReason = Literal["opted_out", "rate_limited"]


class NotificationScheduled(EventPayload):
    """A message about an event was queued for delivery on one channel."""

    event_type: ClassVar[str] = "NotificationScheduled"
    producer: ClassVar[Producer] = "notification"

    notification_id: str = Field(description="Id of the message (one per event and channel).")
    about_event_id: str = Field(description="event_id of the event the citizen is told of.")
    about_event_type: str = Field(description="event_type of that event.")
    channel: NotificationChannel = Field(description="How the message is to be delivered.")
    template: str = Field(description="Name of the message template.")
    language: Language = Field(description="Language of the message (BCP 47).")
    required: bool = Field(
        description="Required by law or safety: sent even to a person who opted out."
    )


class NotificationSuppressed(EventPayload):
    """An optional message was not sent: the person opted out, or the rate limit was hit."""

    event_type: ClassVar[str] = "NotificationSuppressed"
    producer: ClassVar[Producer] = "notification"

    about_event_id: str = Field(description="event_id of the event not told of.")
    about_event_type: str = Field(description="event_type of that event.")
    template: str = Field(description="Name of the template that would have been used.")
    reason: SuppressionReason = Field(description="Why nothing was sent.")


class NotificationSent(EventPayload):
    """A message about an event was delivered to the citizen."""

    event_type: ClassVar[str] = "NotificationSent"
    producer: ClassVar[Producer] = "notification"

    notification_id: str = Field(description="Id of the message.")
    about_event_id: str = Field(description="event_id of the event the citizen was told of.")
    about_event_type: str = Field(description="event_type of that event.")
    channel: NotificationChannel = Field(description="How the message was delivered.")
    template: str = Field(description="Name of the message template used.")
    language: str = Field(description="Language of the message (BCP 47), e.g. zh-Hans.")


class NotificationFailed(EventPayload):
    """Delivery gave up after its last retry (or at once, when the channel refused it for
    good); an operator can retry it from the dead-letter record."""

    event_type: ClassVar[str] = "NotificationFailed"
    producer: ClassVar[Producer] = "notification"

    notification_id: str = Field(description="Id of the message.")
    about_event_id: str = Field(description="event_id of the event the citizen was not told of.")
    about_event_type: str = Field(description="event_type of that event.")
    channel: NotificationChannel = Field(description="The channel that failed.")
    attempts: int = Field(description="Delivery attempts made.", ge=1)
    reason: str = Field(description="Reason code and the channel's answer (no personal data).")


class NotificationRetried(EventPayload):
    """An operator sent a failed message back to delivery."""

    event_type: ClassVar[str] = "NotificationRetried"
    producer: ClassVar[Producer] = "notification"

    notification_id: str = Field(description="Id of the message.")
    channel: NotificationChannel = Field(description="Its channel.")
    operator: str = Field(description="Credential name of the operator who retried it.")


class NotificationPreferencesChanged(EventPayload):
    """A person chose how to be told: channels, language, optional messages or not."""

    event_type: ClassVar[str] = "NotificationPreferencesChanged"
    producer: ClassVar[Producer] = "notification"

    channels: list[NotificationChannel] = Field(
        description="Channels to use, at least one; required messages go to all of them."
    )
    language: Language = Field(description="Language of messages.")
    optional_messages: bool = Field(description="Whether to receive messages not required.")
    masked_phone: str | None = Field(description="Mobile number for SMS, middle 4 masked.")
    masked_email: str | None = Field(description="Email address, local part masked.")
