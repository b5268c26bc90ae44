"""The notification service's HTTP routes: the delivery log per person."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from services.notification import store
from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, require_roles
from shared.settings import ApiClient

router = APIRouter(prefix="/v1", tags=["notifications"], responses=ERROR_RESPONSES)
Reader = Annotated[ApiClient, Depends(require_roles("operator", "citizen_app"))]


class MessageView(BaseModel):
    """One message sent to a citizen."""

    notification_id: str = Field(description="Id of the message.")
    about_event_id: str = Field(description="The event it told of.")
    about_event_type: str = Field(description="That event's type.")
    channel: str = Field(description="app_push, sms or email.")
    template: str = Field(description="Template used.")
    language: str = Field(description="Language (BCP 47).")
    body: str = Field(description="The text sent.")
    created_at: datetime = Field(description="When it was sent (UTC).")


def status_of(_: DomainError) -> int:
    """The notification API refuses nothing of the domain: conflicts only."""
    return 409


@router.get("/persons/{person_id}/messages", response_model=list[MessageView])
async def messages(person_id: str, request: Request, _: Reader) -> list[MessageView]:
    """Every message sent to a person, oldest first."""
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.messages_of(conn, person_id)
    return [MessageView(**dict(r)) for r in rows]
