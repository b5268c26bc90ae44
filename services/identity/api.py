"""Identity's HTTP routes: parse, authorise, call a handler, map errors to 4xx."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.identity.errors import (
    FaceVerificationLockedError,
    FamilyLimitReachedError,
    FamilyLinkNotFoundError,
    IdentityError,
    PersonalDataErasedError,
    PersonAlreadyRegisteredError,
    PersonHoldsCardError,
    PersonNotRegisteredError,
)
from services.identity.handlers import GuardianProof, IdentityHandlers
from services.identity.sessions import Sessions
from shared.authority import Caller
from shared.contracts.facecheck import FaceCheckResult
from shared.contracts.identity import VerificationLevel
from shared.deps import port
from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, request_causation
from shared.settings import SELF_SERVICE

Identities = Annotated[IdentityHandlers, port(IdentityHandlers)]
SessionsPort = Annotated[Sessions, port(Sessions)]
router = APIRouter(prefix="/v1", tags=["verification"], responses=ERROR_RESPONSES)


class GuardianRequest(BaseModel):
    """The guardian acting for a child under 16."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The guardian's name.", max_length=100)
    id_number: str = Field(description="The guardian's ID number.", max_length=32)
    face_check: FaceCheckResult | None = Field(
        None, description="The guardian's own signed face check."
    )


class VerificationRequest(BaseModel):
    """Name and ID number, and the provider's signed face-check result for real-person level."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The citizen's name as on the ID card.", max_length=100)
    id_number: str = Field(description="18-character resident ID number.", max_length=32)
    face_check: FaceCheckResult | None = Field(
        None, description="Signed face-check result; required for real-person verification."
    )
    guardian: GuardianRequest | None = Field(
        None, description="For a person under 16: the registered guardian, who acts for them."
    )


class VerificationResponse(BaseModel):
    """What the channel learns: an opaque person id and the level reached."""

    person_id: str = Field(description="Opaque id of the person, used with every service.")
    level: VerificationLevel = Field(description="real_name or real_person.")
    masked_id_number: str = Field(description="The ID number masked for display.")
    event_id: str = Field(description="Id of the IdentityVerified event.")
    citizen_token: str | None = Field(
        None,
        description="On a self-service channel, after the person's own face check: a signed "
        "token (Authorization: Bearer) with which this channel acts for them.",
    )
    token_expires_at: datetime | None = Field(None, description="When the token expires.")


STATUS: dict[type[IdentityError], int] = {
    PersonNotRegisteredError: 404,
    FamilyLinkNotFoundError: 404,
    FamilyLimitReachedError: 409,
    PersonAlreadyRegisteredError: 409,
    PersonalDataErasedError: 410,
    PersonHoldsCardError: 409,
    FaceVerificationLockedError: 423,
}


def status_of(error: DomainError) -> int:
    """HTTP status of a refusal: most are input the citizen must correct (422)."""
    for kind, status in STATUS.items():
        if isinstance(error, kind):
            return status
    return 422 if isinstance(error, IdentityError) else 409


class ErasureResponse(BaseModel):
    """The outcome of an erasure request."""

    person_id: str = Field(description="The person whose personal data was erased.")
    erased_now: bool = Field(description="False when it had been erased before.")


@router.post("/persons/{person_id}/erasure", response_model=ErasureResponse, tags=["registry"])
async def erase(
    person_id: str, request: Request, caller: Caller, identities: Identities
) -> ErasureResponse:
    """Erase a person's personal data (crypto-shredding); refused while they hold a card."""
    erased = await identities.erase(
        person_id=person_id, requested_by=caller.name, causation=request_causation(request)
    )
    return ErasureResponse(person_id=person_id, erased_now=erased)


@router.post("/verifications", status_code=201, response_model=VerificationResponse)
async def verify(
    body: VerificationRequest,
    request: Request,
    caller: Caller,
    identities: Identities,
    sessions: SessionsPort,
) -> VerificationResponse:
    """Verify a citizen: real-name, plus real-person when a face check is attached."""
    result = await identities.verify(
        name=body.name,
        id_number=body.id_number,
        face_check=body.face_check,
        channel=caller.role,
        causation=request_causation(request),
        guardian=(
            GuardianProof(body.guardian.name, body.guardian.id_number, body.guardian.face_check)
            if body.guardian
            else None
        ),
    )
    answer = VerificationResponse(
        person_id=result.person_id,
        level=result.event.payload["level"],
        masked_id_number=result.event.payload["masked_id_number"],
        event_id=str(result.event.event_id),
    )
    own_face = body.face_check is not None and body.guardian is None
    if own_face and answer.level == "real_person" and caller.role in SELF_SERVICE:
        answer.citizen_token, token = sessions.sign_in(result.person_id, caller.name)
        answer.token_expires_at = token.expires_at
    return answer


@router.get("/citizen-tokens/keys", tags=["citizen tokens"])
async def token_keys(request: Request, _: Caller, sessions: SessionsPort) -> dict[str, Any]:
    """Identity's public keys of citizen tokens (a JWK set): every service verifies tokens
    offline with them (SHEBAO_CITIZEN_TOKEN_KEYS)."""
    return sessions.keys.public.jwks()
