"""The notification service's HTTP routes: preferences, the delivery log, operator retries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.notification import views
from services.notification.errors import NotFailedError, NotificationNotFoundError
from services.notification.handlers import NotificationHandlers
from services.notification.settings import NotificationSettings
from services.notification.views import MessageDetail, MessageView, PreferencesView
from shared.authority import Caller
from shared.contracts.notification import Language, NotificationChannel
from shared.deps import Db, Settings, port
from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, request_causation

Handlers = Annotated[NotificationHandlers, port(NotificationHandlers)]
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


def status_of(error: DomainError) -> int:
    """HTTP status of a refusal."""
    if isinstance(error, NotificationNotFoundError):
        return 404
    return 409 if isinstance(error, NotFailedError) else 422


@router.put("/persons/{person_id}/preferences", response_model=PreferencesView)
async def choose(
    person_id: str, body: PreferencesIn, request: Request, _: Caller, handlers: Handlers
) -> PreferencesView:
    """Choose channels, language and optional messages; give the phone or address they need."""
    return await handlers.choose_preferences(
        person_id,
        channels=body.channels,
        language=body.language,
        optional_messages=body.optional_messages,
        phone=body.phone,
        email=body.email,
        causation=request_causation(request),
    )


@router.get("/persons/{person_id}/preferences", response_model=PreferencesView)
async def preferences(person_id: str, _: Caller, conn: Db, settings: Settings) -> PreferencesView:
    """A person's choices (app push in the default language when they chose nothing)."""
    assert isinstance(settings, NotificationSettings)
    return await views.preferences(conn, person_id, settings.default_language)


@router.get("/persons/{person_id}/messages", response_model=list[MessageView])
async def messages(person_id: str, _: Caller, conn: Db) -> list[MessageView]:
    """Every message to a person with its outcome, oldest first."""
    return await views.messages(conn, person_id)


@router.get("/notifications/{notification_id}", response_model=MessageDetail)
async def message(notification_id: str, _: Caller, conn: Db) -> MessageDetail:
    """One message and every attempt to deliver it."""
    return await views.message(conn, notification_id)


@router.post("/notifications/{notification_id}/retry", response_model=MessageView)
async def retry(
    notification_id: str, request: Request, caller: Caller, handlers: Handlers
) -> MessageView:
    """Send a failed message again (from its dead letter): NotificationRetried, then delivery
    from the first attempt. A message that is not failed is refused with 409."""
    return await handlers.retry_failed(notification_id, caller.name, request_causation(request))
