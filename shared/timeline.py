"""The right to inquire (Social Insurance Law art. 4): every event about a person, in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.authority import Caller
from shared.deps import Db, Runtime
from shared.http import ERROR_RESPONSES


class TimelineEntry(BaseModel):
    """One event of a person's history as this service recorded it."""

    event_id: str = Field(description="Id of the event.")
    event_type: str = Field(description="What happened.")
    occurred_at: datetime = Field(description="When (UTC).")
    stream_id: str = Field(description="The record it belongs to.")
    stream_version: int = Field(description="Its position in that record.")
    producer: str = Field(description="The service that recorded it.")
    correlation_id: str = Field(description="Request that started the chain.")
    actor: str | None = Field(description="Who caused it: a channel credential or a service.")
    channel: str | None = Field(description="The channel (role) it came through.")
    payload: dict[str, Any] = Field(description="The event's fields (no clear personal data).")


def timeline_router() -> APIRouter:
    """``GET /v1/persons/{person_id}/events`` over the service's own event store."""
    router = APIRouter(prefix="/v1", tags=["right to inquire"], responses=ERROR_RESPONSES)

    @router.get("/persons/{person_id}/events", response_model=list[TimelineEntry])
    async def person_events(
        person_id: str, _: Caller, runtime: Runtime, conn: Db
    ) -> list[TimelineEntry]:
        """Every event this service recorded about the person, in order."""
        history = await runtime.store.person_history(conn, person_id)
        return [
            TimelineEntry(
                event_id=str(e.event_id),
                event_type=e.event_type,
                occurred_at=e.occurred_at,
                stream_id=e.stream_id,
                stream_version=e.stream_version,
                producer=e.producer,
                correlation_id=e.correlation_id,
                actor=actor,
                channel=channel,
                payload=e.payload,
            )
            for e, actor, channel in history
        ]

    return router
