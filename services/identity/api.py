"""Identity's HTTP routes: parse, authorise, call a handler, map errors to 4xx."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from services.identity.errors import IdentityError
from services.identity.facecheck import FaceCheckResult
from services.identity.handlers import IdentityHandlers
from shared.contracts.identity import VerificationLevel
from shared.errors import DomainError
from shared.eventstore import Causation
from shared.http import ERROR_RESPONSES, require_roles
from shared.settings import ApiClient

router = APIRouter(prefix="/v1", tags=["verification"], responses=ERROR_RESPONSES)
VerifyingChannel = Annotated[
    ApiClient, Depends(require_roles("window", "online_hall", "citizen_app", "bank"))
]


class VerificationRequest(BaseModel):
    """Name and ID number, and the provider's signed face-check result for real-person level."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The citizen's name as on the ID card.", max_length=100)
    id_number: str = Field(description="18-character resident ID number.", max_length=32)
    face_check: FaceCheckResult | None = Field(
        None, description="Signed face-check result; required for real-person verification."
    )


class VerificationResponse(BaseModel):
    """What the channel learns: an opaque person id and the level reached."""

    person_id: str = Field(description="Opaque id of the person, used with every service.")
    level: VerificationLevel = Field(description="real_name or real_person.")
    masked_id_number: str = Field(description="The ID number masked for display.")
    event_id: str = Field(description="Id of the IdentityVerified event.")


def status_of(error: DomainError) -> int:
    """HTTP status of a refusal: all identity refusals are input the citizen must correct."""
    return 422 if isinstance(error, IdentityError) else 409


@router.post("/verifications", status_code=201, response_model=VerificationResponse)
async def verify(
    body: VerificationRequest, request: Request, caller: VerifyingChannel
) -> VerificationResponse:
    """Verify a citizen: real-name, plus real-person when a face check is attached."""
    handlers: IdentityHandlers = request.app.state.handlers
    result = await handlers.verify(
        name=body.name,
        id_number=body.id_number,
        face_check=body.face_check,
        channel=caller.role,
        causation=Causation(request.state.correlation_id, request.state.correlation_id),
    )
    return VerificationResponse(
        person_id=result.person_id,
        level=result.event.payload["level"],
        masked_id_number=result.event.payload["masked_id_number"],
        event_id=str(result.event.event_id),
    )
