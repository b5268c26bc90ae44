"""The notification service's reads: a person's choices, the delivery log, one message."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.notification import store
from services.notification.errors import NotificationNotFoundError
from shared.db import Connection


class PreferencesView(BaseModel):
    """A person's choices, contacts masked."""

    channels: list[str] = Field(description="Channels in use.")
    language: str = Field(description="Language of messages.")
    optional_messages: bool = Field(description="Whether optional messages are sent.")
    masked_phone: str | None = Field(description="Mobile number, middle four masked.")
    masked_email: str | None = Field(description="Email address, local part masked.")


class MessageView(BaseModel):
    """One message of the delivery log."""

    notification_id: str = Field(description="Id of the message (and its idempotency key).")
    about_event_id: str = Field(description="The event it told of.")
    about_event_type: str = Field(description="That event's type.")
    channel: str = Field(description="app_push, sms, email, or none when suppressed.")
    template: str = Field(description="Template used.")
    language: str = Field(description="Language (BCP 47).")
    required: bool = Field(description="Required by law or safety.")
    body: str = Field(description="The text (personal data masked).")
    status: Literal["scheduled", "sent", "failed", "suppressed"] = Field(
        description="Where delivery stands."
    )
    attempts: int = Field(description="Delivery attempts so far.")
    last_error: str | None = Field(description="Last failure reason, or why it was suppressed.")
    possible_duplicate: bool = Field(
        description="Sent again after an interruption on a channel that cannot dedupe."
    )
    created_at: datetime = Field(description="When it was decided (UTC).")
    sent_at: datetime | None = Field(description="When the channel accepted it (UTC).")


class AttemptView(BaseModel):
    """One delivery attempt."""

    attempt: int = Field(description="Attempt number within the current delivery.")
    started_at: datetime = Field(description="When it was claimed (UTC).")
    finished_at: datetime = Field(description="When its outcome was recorded (UTC).")
    outcome: str = Field(description="sent, transient_error (retried) or failed.")
    detail: str | None = Field(description="The channel's reason code.")
    possible_duplicate: bool = Field(description="A resend after an interruption.")


class MessageDetail(MessageView):
    """A message with every attempt to deliver it."""

    person_id: str = Field(description="The person it is for.")
    attempts_log: list[AttemptView] = Field(description="Each attempt, in order.")


async def preferences(conn: Connection, person_id: str, default_language: str) -> PreferencesView:
    """A person's choices (app push in the default language when they chose nothing)."""
    view = await store.preferences_view(conn, person_id)
    if view is None:
        return PreferencesView(
            channels=["app_push"],
            language=default_language,
            optional_messages=True,
            masked_phone=None,
            masked_email=None,
        )
    return PreferencesView(**dict(view))


async def messages(conn: Connection, person_id: str) -> list[MessageView]:
    """Every message to a person with its outcome, oldest first."""
    return [MessageView(**dict(r)) for r in await store.messages_of(conn, person_id)]


async def message(conn: Connection, notification_id: str) -> MessageDetail:
    """One message and every attempt to deliver it."""
    row = await store.message(conn, notification_id)
    if row is None:
        raise NotificationNotFoundError
    attempts = await store.attempts_of(conn, notification_id)
    return MessageDetail(**dict(row), attempts_log=[AttemptView(**dict(a)) for a in attempts])
