"""Events published by the notification service on ``notification.events``."""

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload
from shared.topics import Producer

NotificationChannel = Literal["app_push", "sms", "email"]


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
