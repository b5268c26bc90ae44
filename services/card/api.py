"""The card service's HTTP routes: parse, authorise, call a handler, map errors to 4xx."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.card import commands, views
from services.card.errors import (
    CardNotFoundError,
    ChannelNotBoundError,
    ECardNotClaimedError,
    FamilyLinkRequiredError,
    RegionInvalidError,
)
from services.card.handlers import CardHandlers
from services.card.views import CardView
from shared.authority import (
    ACCESS_REASON_HEADER,
    OPERATOR_REASONS,
    Caller,
    RefusedError,
    acting_for,
    record_access,
)
from shared.contracts.card import DeliveryMethod, LossKind, ReplacementReason
from shared.deps import Db, port
from shared.envelope import Envelope
from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, request_causation
from shared.regions import REGION_PATTERN

Cards = Annotated[CardHandlers, port(CardHandlers)]
router = APIRouter(prefix="/v1", tags=["cards"], responses=ERROR_RESPONSES)


class ApplicationRequest(BaseModel):
    """An application for a card in an insured region."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(description="Opaque person id from identity.", max_length=64)
    region: str = Field(description="Insured region (6-digit code).", pattern=REGION_PATTERN)
    delivery: DeliveryMethod = Field("mail", description="mail or pickup at a branch.")
    photo_ref: str | None = Field(
        None,
        description="Reference of the bareheaded photo in the photo store.",
        pattern=r"^[A-Za-z0-9_\-]{4,80}$",
    )
    under_7: bool = Field(
        False,
        deprecated=True,
        description="Ignored: whether a child is under 7 (no photo needed) is known from "
        "identity, not taken from the caller.",
    )
    id_checked: bool = Field(
        False, description="Window only: the clerk checked the original ID card."
    )


class BatchRequest(BaseModel):
    """A production batch."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(100, ge=1, le=1000, description="Most applications to take.")


class Batch(BaseModel):
    """The applications taken into a production batch."""

    batch_id: str = Field(description="Id of the batch.")
    card_ids: list[str] = Field(description="The applications it holds, oldest first.")


class ProductionReport(BaseModel):
    """The printing agency's report that a card was produced."""

    model_config = ConfigDict(extra="forbid")

    card_number: str = Field(description="Number printed on the card.", pattern=r"^[A-Z0-9]{6,20}$")
    chip_serial: str = Field(description="The chip's serial number.", pattern=r"^[A-F0-9]{8,32}$")


class ProductionFailure(BaseModel):
    """The printing agency could not produce the card."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Reason code, e.g. PHOTO_UNUSABLE.", pattern=r"^[A-Z_]{3,40}$")


class MailingReport(BaseModel):
    """The card was handed to a courier."""

    model_config = ConfigDict(extra="forbid")

    courier: str = Field(description="Courier company.", min_length=2, max_length=40)
    tracking_number: str = Field(description="Tracking number.", pattern=r"^[A-Za-z0-9]{6,30}$")


class BranchDispatch(BaseModel):
    """The card was sent to a branch for pick-up."""

    model_config = ConfigDict(extra="forbid")

    branch: str = Field(description="The branch (service window).", min_length=2, max_length=60)


class LossReport(BaseModel):
    """The holder reports the card lost."""

    model_config = ConfigDict(extra="forbid")

    kind: LossKind = Field(description="temporary (lapses after the region's days) or formal.")


class ReplacementRequest(BaseModel):
    """Replace (补卡) or exchange (换卡) a card."""

    model_config = ConfigDict(extra="forbid")

    reason: ReplacementReason = Field(description="Why.")
    delivery: DeliveryMethod = Field("mail", description="How the new card reaches the holder.")


class Cancellation(BaseModel):
    """Cancel a card."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Reason code, e.g. HOLDER_REQUEST.", pattern=r"^[A-Z_]{3,40}$")


class ECardClaim(BaseModel):
    """Claim the electronic card."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(description="The holder.", max_length=64)
    region: str = Field(description="Insured region chosen (6-digit code).", pattern=REGION_PATTERN)


class Accepted(BaseModel):
    """A command was accepted and recorded."""

    card_id: str | None = Field(description="The card concerned (the new one for a replacement).")
    events: list[str] = Field(description="event types recorded, in order.")
    event_ids: list[str] = Field(description="Their ids.")


STATUS: dict[type[DomainError], int] = {
    CardNotFoundError: 404,
    ECardNotClaimedError: 404,
    ChannelNotBoundError: 404,
    FamilyLinkRequiredError: 403,
    RegionInvalidError: 422,
}


def status_of(error: DomainError) -> int:
    """HTTP status of a card refusal: most are conflicts with the card's state (409)."""
    return next((s for kind, s in STATUS.items() if isinstance(error, kind)), 409)


def _accepted(events: list[Envelope], card_id: str | None = None) -> Accepted:
    ids = [e.payload["card_id"] for e in events if "card_id" in e.payload]
    return Accepted(
        card_id=card_id or (ids[0] if ids else None),
        events=[e.event_type for e in events],
        event_ids=[str(e.event_id) for e in events],
    )


@router.post("/applications", status_code=201, response_model=Accepted)
async def apply(
    body: ApplicationRequest, request: Request, caller: Caller, cards: Cards
) -> Accepted:
    """Apply for a card: online (needs face verification) or at a service window."""
    event = await cards.apply(
        person_id=body.person_id,
        region=body.region,
        kind="window" if caller.role == "window" else "online",
        delivery=body.delivery,
        causation=request_causation(request),
        photo_ref=body.photo_ref,
        id_checked=body.id_checked,
    )
    return _accepted([event])


@router.post("/production/batches", status_code=201, response_model=Batch)
async def batch(body: BatchRequest, request: Request, caller: Caller, cards: Cards) -> Batch:
    """Take pending applications into a production batch (制卡中), oldest first."""
    batch_id, taken = await cards.batch(
        size=body.size, agency=caller.name, causation=request_causation(request)
    )
    return Batch(batch_id=batch_id, card_ids=taken)


async def _on_card(
    cards: CardHandlers, request: Request, card_id: str, command: commands.Command
) -> Accepted:
    events = await cards.on_card(card_id, command, request_causation(request))
    return _accepted(events, card_id)


@router.post("/cards/{card_id}/production", status_code=201, response_model=Accepted)
async def produced(
    card_id: str, body: ProductionReport, request: Request, caller: Caller, cards: Cards
) -> Accepted:
    """The printing agency reports the card produced."""
    command = commands.ReportProduced(card_id, body.card_number, body.chip_serial, caller.name)
    return await _on_card(cards, request, card_id, command)


@router.post("/cards/{card_id}/production-failure", status_code=201, response_model=Accepted)
async def production_failed(
    card_id: str, body: ProductionFailure, request: Request, caller: Caller, cards: Cards
) -> Accepted:
    """The printing agency could not produce the card (制卡失败)."""
    command = commands.ReportProductionFailed(card_id, body.reason, caller.name)
    return await _on_card(cards, request, card_id, command)


@router.post("/cards/{card_id}/mailing", status_code=201, response_model=Accepted)
async def mailed(
    card_id: str, body: MailingReport, request: Request, _: Caller, cards: Cards
) -> Accepted:
    """The card was handed to a courier, with its tracking number."""
    command = commands.ReportMailed(card_id, body.courier, body.tracking_number)
    return await _on_card(cards, request, card_id, command)


@router.post("/cards/{card_id}/branch", status_code=201, response_model=Accepted)
async def to_branch(
    card_id: str, body: BranchDispatch, request: Request, _: Caller, cards: Cards
) -> Accepted:
    """The card was sent to a branch, ready for pick-up."""
    return await _on_card(cards, request, card_id, commands.SendToBranch(card_id, body.branch))


@router.post("/cards/{card_id}/delivery", status_code=201, response_model=Accepted)
async def delivered(card_id: str, request: Request, caller: Caller, cards: Cards) -> Accepted:
    """The courier delivered the card."""
    return await _on_card(cards, request, card_id, commands.ReportDelivered(card_id, caller.name))


@router.post("/cards/{card_id}/collection", status_code=201, response_model=Accepted)
async def collected(card_id: str, request: Request, caller: Caller, cards: Cards) -> Accepted:
    """The holder collected the card at the window."""
    return await _on_card(cards, request, card_id, commands.CollectCard(card_id, caller.name))


@router.post("/cards/{card_id}/loss", status_code=201, response_model=Accepted)
async def lost(
    card_id: str, body: LossReport, request: Request, caller: Caller, cards: Cards
) -> Accepted:
    """Report the card lost: temporarily (lapses by itself) or formally (final)."""
    events = await cards.report_lost(card_id, body.kind, caller.role, request_causation(request))
    return _accepted(events, card_id)


@router.post("/cards/{card_id}/unblock", status_code=201, response_model=Accepted)
async def unblock(card_id: str, request: Request, _: Caller, cards: Cards) -> Accepted:
    """End a temporary loss report (解挂)."""
    return await _on_card(cards, request, card_id, commands.Unblock(card_id))


@router.post("/cards/{card_id}/replacement", status_code=201, response_model=Accepted)
async def replace(
    card_id: str, body: ReplacementRequest, request: Request, caller: Caller, cards: Cards
) -> Accepted:
    """Replace a formally lost card, or exchange a valid one; the region's fee applies."""
    events = await cards.replace(
        card_id,
        reason=body.reason,
        kind="window" if caller.role == "window" else "online",
        delivery=body.delivery,
        causation=request_causation(request),
    )
    new = next(e.payload["card_id"] for e in events if e.event_type == "CardApplied")
    return _accepted(events, new)


@router.post("/cards/{card_id}/cancellation", status_code=201, response_model=Accepted)
async def cancel(
    card_id: str, body: Cancellation, request: Request, _: Caller, cards: Cards
) -> Accepted:
    """Cancel the card (注销)."""
    return await _on_card(cards, request, card_id, commands.CancelCard(card_id, body.reason))


@router.post("/ecards", status_code=201, response_model=Accepted, tags=["e-card"])
async def claim(body: ECardClaim, request: Request, _: Caller, cards: Cards) -> Accepted:
    """Claim the e-card (立即领取) in a chosen region; the calling channel is bound."""
    events = await cards.claim_ecard(
        person_id=body.person_id,
        region=body.region,
        acting_person_id=acting_for(request),
        causation=request_causation(request),
    )
    return _accepted(events)


@router.post(
    "/ecards/{person_id}/channels", status_code=201, response_model=Accepted, tags=["e-card"]
)
async def bind(person_id: str, request: Request, caller: Caller, cards: Cards) -> Accepted:
    """Bind the calling channel to the person's e-card."""
    command = commands.BindChannel(caller.name)
    return _accepted(await cards.channel(person_id, command, request_causation(request)))


@router.post(
    "/ecards/{person_id}/channels/{channel}/unlink", response_model=Accepted, tags=["e-card"]
)
async def unlink(
    person_id: str, channel: str, request: Request, _: Caller, cards: Cards
) -> Accepted:
    """Unlink one channel (解除关联); the others stay bound."""
    command = commands.UnlinkChannel(channel)
    return _accepted(await cards.channel(person_id, command, request_causation(request)))


@router.get("/cards/{card_id}", response_model=CardView)
async def card(card_id: str, _: Caller, conn: Db) -> CardView:
    """A card's holder, region and status, with the events that explain it."""
    return await views.card(conn, card_id)


@router.get("/production/pending", response_model=list[CardView])
async def pending(
    request: Request,
    caller: Caller,
    conn: Db,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    reason: Annotated[str | None, Header(alias=ACCESS_REASON_HEADER)] = None,
) -> list[CardView]:
    """Applications waiting for production, oldest first (a production batch). Each person
    listed finds the read in their history (an operator states why)."""
    if caller.role == "operator" and reason not in OPERATOR_REASONS:
        raise RefusedError(422, "ACCESS_REASON_REQUIRED", "An operator states why.")
    waiting = await views.pending(conn, limit)
    persons = [c.person_id for c in waiting]
    await record_access(request, caller, persons, "GET /v1/production/pending", reason)
    return waiting
