"""The activation service's HTTP routes: one per way a card is activated."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.activation.errors import (
    CardNotFoundError,
    CardNotHeldError,
    ChannelNotBoundError,
    ECardNotClaimedError,
    FamilyLinkRequiredError,
    PasswordLockedError,
    PasswordWeakError,
    PasswordWrongError,
    PaymentCodeExpiredError,
    PaymentCodeInvalidError,
    RecoveryProofRequiredError,
    SmsCodeExpiredError,
    SmsCodeLockedError,
    SmsCodeRequiredError,
    SmsCodeTooSoonError,
    SmsCodeUsedError,
    SmsCodeWrongError,
)
from services.activation.handlers import Activated, ActivationHandlers
from services.activation.password.handlers import PasswordHandlers
from shared.authority import Caller, acting_for
from shared.contracts.activation import CHANNEL_OF_ROLE, ActivationChannel
from shared.deps import port
from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, request_causation

Activations = Annotated[ActivationHandlers, port(ActivationHandlers)]
Passwords = Annotated[PasswordHandlers, port(PasswordHandlers)]
router = APIRouter(prefix="/v1", tags=["activation"], responses=ERROR_RESPONSES)


class ActivationRequest(BaseModel):
    """Which card to activate, for whom."""

    model_config = ConfigDict(extra="forbid")

    card_id: str = Field(description="Id of the card.", max_length=64)
    person_id: str = Field(description="Opaque id of the holder.", max_length=64)
    id_checked: bool = Field(
        False, description="Window and bank: staff checked the holder's original ID card."
    )


class ECardActivation(BaseModel):
    """The e-card's own password (never the physical card's)."""

    model_config = ConfigDict(extra="forbid")

    password: SecretStr = Field(
        max_length=64, description="6 digits; not a run, not one repeated digit."
    )


class BankActivation(BaseModel):
    """The holder at the bank outlet, with the card and the original ID card."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(description="The holder.", max_length=64)
    id_checked: bool = Field(False, description="The teller checked the original ID card.")


class HospitalRegistration(BaseModel):
    """An outpatient or inpatient registration with the card: the first one activates it."""

    model_config = ConfigDict(extra="forbid")

    card_id: str = Field(description="The card presented.", max_length=64)
    person_id: str = Field(description="The patient (the card's holder).", max_length=64)
    kind: Literal["outpatient", "inpatient"] = Field(description="The registration.")


class PharmacySwitch(BaseModel):
    """At a designated pharmacy the old card is inserted, then the new one."""

    model_config = ConfigDict(extra="forbid")

    old_card_id: str = Field(description="The old medical insurance card.", max_length=64)
    new_card_id: str = Field(description="The new card.", max_length=64)
    person_id: str = Field(description="The holder.", max_length=64)


class ActivationResponse(BaseModel):
    """The card is active (now, or it was already)."""

    card_id: str = Field(description="Id of the card.")
    channel: ActivationChannel = Field(description="The channel that asked.")
    already_active: bool = Field(description="True when it had been activated before.")
    events: list[str] = Field(description="The events recorded now, in order.")


STATUS: dict[type[DomainError], int] = {
    CardNotFoundError: 404,
    ECardNotClaimedError: 404,
    FamilyLinkRequiredError: 403,
    CardNotHeldError: 403,
    PasswordWeakError: 422,
    PaymentCodeInvalidError: 422,
    PaymentCodeExpiredError: 410,
    ChannelNotBoundError: 403,
    PasswordWrongError: 422,
    PasswordLockedError: 423,
    RecoveryProofRequiredError: 403,
    SmsCodeRequiredError: 403,
    SmsCodeWrongError: 422,
    SmsCodeExpiredError: 410,
    SmsCodeUsedError: 409,
    SmsCodeLockedError: 423,
    SmsCodeTooSoonError: 429,
}


def status_of(error: DomainError) -> int:
    """HTTP status of an activation refusal: most conflict with the card's state (409)."""
    return next((s for kind, s in STATUS.items() if isinstance(error, kind)), 409)


def _answer(
    result: Activated, channel: ActivationChannel, response: Response
) -> ActivationResponse:
    if result.already_active:
        response.status_code = 200
    return ActivationResponse(
        card_id=result.card_id,
        channel=channel,
        already_active=result.already_active,
        events=[e.event_type for e in result.events],
    )


@router.post(
    "/activations",
    status_code=201,
    response_model=ActivationResponse,
    responses={200: {"model": ActivationResponse}},
)
async def activate(
    body: ActivationRequest,
    request: Request,
    response: Response,
    caller: Caller,
    activations: Activations,
) -> ActivationResponse:
    """Activate a card: at the window or a bank outlet (ID checked), or online (after a
    recent face verification)."""
    channel = CHANNEL_OF_ROLE[caller.role]
    result = await activations.activate(
        card_id=body.card_id,
        person_id=body.person_id,
        channel=channel,
        operator=caller.name,
        causation=request_causation(request),
        id_checked=body.id_checked,
        acting_person_id=acting_for(request),
    )
    return _answer(result, channel, response)


@router.post(
    "/ecards/{person_id}/activation",
    status_code=201,
    response_model=ActivationResponse,
    responses={200: {"model": ActivationResponse}},
)
async def activate_ecard(
    person_id: str,
    body: ECardActivation,
    request: Request,
    response: Response,
    caller: Caller,
    activations: Activations,
) -> ActivationResponse:
    """The holder sets the e-card password, after a recent face verification: it is active."""
    result = await activations.activate_ecard(
        person_id=person_id,
        password=body.password.get_secret_value(),
        operator=caller.name,
        causation=request_causation(request),
    )
    return _answer(result, "online_hall", response)


@router.post(
    "/hospital/registrations",
    status_code=201,
    response_model=ActivationResponse,
    responses={200: {"model": ActivationResponse}},
)
async def hospital_registration(
    body: HospitalRegistration,
    request: Request,
    response: Response,
    caller: Caller,
    activations: Activations,
) -> ActivationResponse:
    """A designated hospital registers a patient with the card: the first time activates it."""
    result = await activations.activate(
        card_id=body.card_id,
        person_id=body.person_id,
        channel="hospital",
        operator=caller.name,
        causation=request_causation(request),
    )
    return _answer(result, "hospital", response)


@router.post(
    "/pharmacy/card-switch",
    status_code=201,
    response_model=ActivationResponse,
    responses={200: {"model": ActivationResponse}},
)
async def pharmacy_switch(
    body: PharmacySwitch,
    request: Request,
    response: Response,
    caller: Caller,
    activations: Activations,
) -> ActivationResponse:
    """Old card, then new card at a designated pharmacy: the new card is activated and the
    account moves to it."""
    result = await activations.activate(
        card_id=body.new_card_id,
        person_id=body.person_id,
        channel="pharmacy",
        operator=caller.name,
        causation=request_causation(request),
        presented_old_card=body.old_card_id,
    )
    return _answer(result, "pharmacy", response)


@router.post(
    "/cards/{card_id}/financial-function",
    status_code=201,
    response_model=ActivationResponse,
    responses={200: {"model": ActivationResponse}},
)
async def financial_function(
    card_id: str,
    body: BankActivation,
    request: Request,
    response: Response,
    caller: Caller,
    activations: Activations,
) -> ActivationResponse:
    """At the bank on the card face: turn on the card's financial function (once)."""
    result = await activations.activate_financial(
        card_id=card_id,
        person_id=body.person_id,
        bank=caller.name,
        id_checked=body.id_checked,
        causation=request_causation(request),
    )
    return _answer(result, "bank", response)
