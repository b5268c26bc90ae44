"""Identity's family-service routes (亲情服务)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.identity.errors import FamilyLinkNotFoundError
from services.identity.family.handlers import FamilyHandlers
from services.identity.sessions import Sessions
from shared.authority import Caller, RefusedError, ServiceAuthority, acting, signed_in
from shared.contracts.facecheck import FaceCheckResult
from shared.contracts.identity import Relation
from shared.deps import port
from shared.http import ERROR_RESPONSES, request_causation
from shared.settings import SELF_SERVICE

Family = Annotated[FamilyHandlers, port(FamilyHandlers)]
SessionsPort = Annotated[Sessions, port(Sessions)]
router = APIRouter(prefix="/v1", tags=["family"], responses=ERROR_RESPONSES)


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
    member_token: str | None = Field(
        None,
        description="Self-service: the adult member's own citizen token, issued to this "
        "channel (they consent signed in themselves).",
        max_length=4096,
    )


class FamilyLink(BaseModel):
    """A link between a holder and a family member."""

    holder_person_id: str = Field(description="The holder.")
    member_person_id: str = Field(description="The family member.")


class UnlinkRequest(BaseModel):
    """Who removes the link."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["holder", "member"] | None = Field(
        None,
        description="At a window: the holder or the member. Self-service: whoever is signed "
        "in (not needed).",
    )


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
    caller: Caller,
    family: Family,
    authority: ServiceAuthority,
) -> FamilyLink:
    """Link a family member (200 when they were linked already). On a self-service channel
    the holder is signed in, and an adult member consents signed in too (``member_token``)."""
    self_service = caller.role in SELF_SERVICE
    member_token = (
        signed_in(authority, caller, body.member_token)
        if self_service and body.member_token
        else None
    )
    member, created = await family.link(
        holder_person_id=holder_person_id,
        member_name=body.name,
        member_id_number=body.id_number,
        member_face_check=body.face_check,
        relation=body.relation,
        channel=caller.role,
        causation=request_causation(request),
        member_signed_in=member_token.person_id if member_token else None,
        self_service=self_service,
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
    request: Request,
    _: Caller,
    family: Family,
    body: UnlinkRequest | None = None,
) -> FamilyLink:
    """Remove a link, at the holder's or the member's request; other links stay."""
    who = acting(request)
    if who is not None:  # self-service: whoever is signed in
        by: Literal["holder", "member"] = (
            "holder" if who.token.person_id == holder_person_id else "member"
        )
    elif body is None or body.by is None:
        raise RefusedError(422, "INVALID_REQUEST", "Say who asks: the holder or the member.")
    else:
        by = body.by
    await family.unlink(
        holder_person_id=holder_person_id,
        member_person_id=member_person_id,
        by=by,
        causation=request_causation(request),
    )
    return FamilyLink(holder_person_id=holder_person_id, member_person_id=member_person_id)


class GrantResponse(BaseModel):
    """A family grant: send it as ``X-Family-Grant`` with the holder's citizen token."""

    grant: str = Field(description="The signed grant (JWS, EdDSA).")
    expires_at: datetime = Field(description="When it stops working (a minute or so).")


@router.post(
    "/persons/{holder_person_id}/family/{member_person_id}/grant",
    status_code=201,
    response_model=GrantResponse,
)
async def family_grant(
    holder_person_id: str,
    member_person_id: str,
    request: Request,
    caller: Caller,
    family: Family,
    sessions: SessionsPort,
) -> GrantResponse:
    """A family holder, signed in, asks to act for a member they linked: identity checks the
    link now and grants it for a minute, so an unlink takes effect everywhere within it."""
    if member_person_id not in await family.members(holder_person_id):
        raise FamilyLinkNotFoundError()
    raw, expires_at = sessions.family_grant(holder_person_id, member_person_id, caller.name)
    return GrantResponse(grant=raw, expires_at=expires_at)


@router.get("/persons/{holder_person_id}/family", response_model=list[FamilyLink])
async def members(
    holder_person_id: str, request: Request, _: Caller, family: Family
) -> list[FamilyLink]:
    """The holder's family members."""
    linked = await family.members(holder_person_id)
    return [FamilyLink(holder_person_id=holder_person_id, member_person_id=m) for m in linked]
