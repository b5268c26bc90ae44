"""Identity's family-service routes (亲情服务)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.identity.facecheck import FaceCheckResult
from services.identity.family import FamilyHandlers
from shared.contracts.identity import Relation
from shared.http import ERROR_RESPONSES, request_causation, require_roles
from shared.settings import ApiClient

router = APIRouter(prefix="/v1", tags=["family"], responses=ERROR_RESPONSES)
CitizenChannel = Annotated[
    ApiClient, Depends(require_roles("citizen_app", "online_hall", "window"))
]


class FamilyMemberRequest(BaseModel):
    """Who to link: an adult consents with their own face check; a child under 16 needs none
    when the holder is their registered guardian."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The member's name.", max_length=100)
    id_number: str = Field(description="The member's ID number.", max_length=32)
    relation: Relation = Field(description="What the member is to the holder.")
    face_check: FaceCheckResult | None = Field(
        None, description="The member's own signed face check (adults)."
    )


class FamilyLink(BaseModel):
    """A link between a holder and a family member."""

    holder_person_id: str = Field(description="The holder.")
    member_person_id: str = Field(description="The family member.")


class UnlinkRequest(BaseModel):
    """Who removes the link."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["holder", "member"] = Field(description="The holder or the member.")


def _family(request: Request) -> FamilyHandlers:
    family: FamilyHandlers = request.app.state.handlers.family
    return family


@router.post(
    "/persons/{holder_person_id}/family",
    status_code=201,
    response_model=FamilyLink,
    responses={200: {"model": FamilyLink}},
)
async def link(
    holder_person_id: str,
    body: FamilyMemberRequest,
    request: Request,
    response: Response,
    caller: CitizenChannel,
) -> FamilyLink:
    """Link a family member (200 when they were linked already)."""
    member, created = await _family(request).link(
        holder_person_id=holder_person_id,
        member_name=body.name,
        member_id_number=body.id_number,
        member_face_check=body.face_check,
        relation=body.relation,
        channel=caller.role,
        causation=request_causation(request),
    )
    if not created:
        response.status_code = 200
    return FamilyLink(holder_person_id=holder_person_id, member_person_id=member)


@router.post(
    "/persons/{holder_person_id}/family/{member_person_id}/unlink", response_model=FamilyLink
)
async def unlink(
    holder_person_id: str,
    member_person_id: str,
    body: UnlinkRequest,
    request: Request,
    _: CitizenChannel,
) -> FamilyLink:
    """Remove a link, at the holder's or the member's request; other links stay."""
    await _family(request).unlink(
        holder_person_id=holder_person_id,
        member_person_id=member_person_id,
        by=body.by,
        causation=request_causation(request),
    )
    return FamilyLink(holder_person_id=holder_person_id, member_person_id=member_person_id)


@router.get("/persons/{holder_person_id}/family", response_model=list[FamilyLink])
async def members(holder_person_id: str, request: Request, _: CitizenChannel) -> list[FamilyLink]:
    """The holder's family members."""
    linked = await _family(request).members(holder_person_id)
    return [FamilyLink(holder_person_id=holder_person_id, member_person_id=m) for m in linked]
