"""The notification service's HTTP routes: preferences, the delivery log, operator retries."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.notification import store
from services.notification.errors import NotFailedError, NotificationNotFoundError
from services.notification.handlers import choose_preferences, retry_failed
from services.notification.settings import NotificationSettings
from shared.authority import Caller
from shared.contracts.notification import Language, NotificationChannel
from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, request_causation

router = APIRouter(prefix="/v1", tags=["notifications"], responses=ERROR_RESPONSES)

PHONE = r"^1[3-9]\d{9}$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


class PreferencesIn(BaseModel):
    """How a person wants to be told. Contacts given here are kept sealed, never shown back."""

    channels: list[NotificationChannel] = Field(
        min_length=1, max_length=3, description="Channels to use; required messages go to all."
    )
    language: Language = Field("zh-Hans", description="Language of messages.")
    optional_messages: bool = Field(True, description="Receive messages that are not required.")
    phone: str | None = Field(None, pattern=PHONE, description="Mainland mobile number for SMS.")
    email: str | None = Field(None, pattern=EMAIL, max_length=254, description="Email address.")


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


def status_of(error: DomainError) -> int:
    """HTTP status of a refusal."""
    if isinstance(error, NotificationNotFoundError):
        return 404
    return 409 if isinstance(error, NotFailedError) else 422


@router.put("/persons/{person_id}/preferences", response_model=PreferencesView)
async def choose(
    person_id: str, body: PreferencesIn, request: Request, _: Caller
) -> PreferencesView:
    """Choose channels, language and optional messages; give the phone or address they need."""
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        view = await choose_preferences(
            conn,
            runtime.store,
            request.app.state.settings,
            person_id,
            channels=body.channels,
            language=body.language,
            optional_messages=body.optional_messages,
            phone=body.phone,
            email=body.email,
            causation=request_causation(request),
        )
    return PreferencesView(**dict(view or {}))


@router.get("/persons/{person_id}/preferences", response_model=PreferencesView)
async def preferences(person_id: str, request: Request, _: Caller) -> PreferencesView:
    """A person's choices (app push in the default language when they chose nothing)."""
    settings: NotificationSettings = request.app.state.settings
    async with request.app.state.runtime.pool.acquire() as conn:
        view = await store.preferences_view(conn, person_id)
    if view is None:
        return PreferencesView(
            channels=["app_push"],
            language=settings.default_language,
            optional_messages=True,
            masked_phone=None,
            masked_email=None,
        )
    return PreferencesView(**dict(view))


@router.get("/persons/{person_id}/messages", response_model=list[MessageView])
async def messages(person_id: str, request: Request, _: Caller) -> list[MessageView]:
    """Every message to a person with its outcome, oldest first."""
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.messages_of(conn, person_id)
    return [MessageView(**dict(r)) for r in rows]


@router.get("/notifications/{notification_id}", response_model=MessageDetail)
async def message(notification_id: str, request: Request, _: Caller) -> MessageDetail:
    """One message and every attempt to deliver it."""
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await store.message(conn, notification_id)
        if row is None:
            raise NotificationNotFoundError
        attempts = await store.attempts_of(conn, notification_id)
    return MessageDetail(**dict(row), attempts_log=[AttemptView(**dict(a)) for a in attempts])


@router.post("/notifications/{notification_id}/retry", response_model=MessageView)
async def retry(notification_id: str, request: Request, caller: Caller) -> MessageView:
    """Send a failed message again (from its dead letter): NotificationRetried, then delivery
    from the first attempt. A message that is not failed is refused with 409."""
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        await retry_failed(
            conn, runtime.store, notification_id, caller.name, request_causation(request)
        )
        row = await store.message(conn, notification_id)
    return MessageView(**dict(row or {}))
