"""The activation service's HTTP routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from services.activation.errors import CardNotFoundError, CardNotHeldError
from services.activation.handlers import ActivationHandlers
from shared.contracts.activation import ActivationChannel
from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, request_causation, require_roles
from shared.settings import ApiClient, Role

router = APIRouter(prefix="/v1", tags=["activation"], responses=ERROR_RESPONSES)
Activator = Annotated[
    ApiClient, Depends(require_roles("window", "online_hall", "citizen_app", "bank"))
]
CHANNEL_OF_ROLE: dict[Role, ActivationChannel] = {
    "window": "window",
    "online_hall": "online_hall",
    "citizen_app": "online_hall",
    "bank": "bank",
}


class ActivationRequest(BaseModel):
    """Which card to activate, for whom."""

    model_config = ConfigDict(extra="forbid")

    card_id: str = Field(description="Id of the card.", max_length=64)
    person_id: str = Field(description="Opaque id of the holder.", max_length=64)


class ActivationResponse(BaseModel):
    """The card is active."""

    card_id: str = Field(description="Id of the card.")
    channel: ActivationChannel = Field(description="How it was activated.")
    event_id: str = Field(description="Id of the CardActivated event.")


def status_of(error: DomainError) -> int:
    """HTTP status of an activation refusal."""
    if isinstance(error, CardNotFoundError):
        return 404
    if isinstance(error, CardNotHeldError):
        return 403
    return 409


@router.post("/activations", status_code=201, response_model=ActivationResponse)
async def activate(
    body: ActivationRequest, request: Request, caller: Activator
) -> ActivationResponse:
    """Activate a mailed or handed-over card (online needs the holder's face verification)."""
    handlers: ActivationHandlers = request.app.state.handlers
    channel = CHANNEL_OF_ROLE[caller.role]
    event = await handlers.activate(
        card_id=body.card_id,
        person_id=body.person_id,
        channel=channel,
        operator=caller.name,
        causation=request_causation(request),
    )
    return ActivationResponse(card_id=body.card_id, channel=channel, event_id=str(event.event_id))
