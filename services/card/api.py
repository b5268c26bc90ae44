"""The card service's HTTP routes: parse, authorise, call a handler, map errors to 4xx."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.card import domain, store
from services.card.errors import CardNotFoundError, RegionInvalidError
from services.card.handlers import CardHandlers
from shared.contracts.card import DeliveryMethod
from shared.envelope import Envelope
from shared.errors import DomainError
from shared.eventstore import Causation
from shared.http import ERROR_RESPONSES, require_roles
from shared.regions import REGION_PATTERN
from shared.settings import ApiClient

router = APIRouter(prefix="/v1", tags=["cards"], responses=ERROR_RESPONSES)
Applicant = Annotated[ApiClient, Depends(require_roles("window", "online_hall", "citizen_app"))]
PrintingAgency = Annotated[ApiClient, Depends(require_roles("printing_agency"))]
Shipper = Annotated[ApiClient, Depends(require_roles("printing_agency", "courier"))]
Reader = Annotated[
    ApiClient,
    Depends(require_roles("operator", "window", "online_hall", "citizen_app", "printing_agency")),
]


class ApplicationRequest(BaseModel):
    """An application for a card in an insured region."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(
        description="Opaque person id from identity verification.", max_length=64
    )
    region: str = Field(description="Insured region (6-digit code).", pattern=REGION_PATTERN)
    delivery: DeliveryMethod = Field("mail", description="mail or pickup at a branch.")


class ProductionReport(BaseModel):
    """The printing agency's report that a card was produced."""

    model_config = ConfigDict(extra="forbid")

    card_number: str = Field(description="Number printed on the card.", pattern=r"^[A-Z0-9]{6,20}$")
    chip_serial: str = Field(description="The chip's serial number.", pattern=r"^[A-F0-9]{8,32}$")


class MailingReport(BaseModel):
    """The card was handed to a courier."""

    model_config = ConfigDict(extra="forbid")

    courier: str = Field(description="Courier company.", min_length=2, max_length=40)
    tracking_number: str = Field(description="Tracking number.", pattern=r"^[A-Za-z0-9]{6,30}$")


class CardView(BaseModel):
    """A card as the citizen sees it."""

    card_id: str = Field(description="Id of the card.")
    person_id: str = Field(description="Its holder.")
    region: str = Field(description="Insured region it was issued for.")
    status: str = Field(description="applied, produced or mailed.")


class Accepted(BaseModel):
    """A command was accepted and recorded."""

    card_id: str = Field(description="Id of the card.")
    event_type: str = Field(description="The event recorded.")
    event_id: str = Field(description="Its id.")


def status_of(error: DomainError) -> int:
    """HTTP status of a card refusal."""
    if isinstance(error, CardNotFoundError):
        return 404
    if isinstance(error, RegionInvalidError):
        return 422
    return 409


def _causation(request: Request) -> Causation:
    return Causation(request.state.correlation_id, request.state.correlation_id)


def _accepted(event: Envelope) -> Accepted:
    return Accepted(
        card_id=event.payload["card_id"], event_type=event.event_type, event_id=str(event.event_id)
    )


@router.post("/applications", status_code=201, response_model=Accepted)
async def apply(body: ApplicationRequest, request: Request, caller: Applicant) -> Accepted:
    """Apply for a card: online (needs face verification) or at a service window."""
    handlers: CardHandlers = request.app.state.handlers
    event = await handlers.apply(
        person_id=body.person_id,
        region=body.region,
        channel=caller.role,
        kind="window" if caller.role == "window" else "online",
        delivery=body.delivery,
        causation=_causation(request),
    )
    return _accepted(event)


@router.post("/cards/{card_id}/production", status_code=201, response_model=Accepted)
async def produced(
    card_id: str, body: ProductionReport, request: Request, caller: PrintingAgency
) -> Accepted:
    """The printing agency reports the card produced."""
    handlers: CardHandlers = request.app.state.handlers
    command = domain.ReportProduced(card_id, body.card_number, body.chip_serial, caller.name)
    return _accepted(await handlers.on_card(card_id, command, _causation(request)))


@router.post("/cards/{card_id}/mailing", status_code=201, response_model=Accepted)
async def mailed(card_id: str, body: MailingReport, request: Request, _: Shipper) -> Accepted:
    """The card was handed to a courier, with its tracking number."""
    handlers: CardHandlers = request.app.state.handlers
    command = domain.ReportMailed(card_id, body.courier, body.tracking_number)
    return _accepted(await handlers.on_card(card_id, command, _causation(request)))


@router.get("/cards/{card_id}", response_model=CardView)
async def card(card_id: str, request: Request, _: Reader) -> CardView:
    """A card's holder, region and status."""
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await store.find_card(conn, card_id)
    if row is None:
        raise CardNotFoundError()
    return CardView(**{k: row[k] for k in CardView.model_fields})


@router.get("/production/pending", response_model=list[CardView])
async def pending(
    request: Request, _: PrintingAgency, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[CardView]:
    """Applications waiting for production, oldest first."""
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.cards_in_status(conn, "applied", limit)
    return [CardView(**{k: r[k] for k in CardView.model_fields}) for r in rows]
