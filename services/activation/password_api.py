"""Password routes: settlement checks at hospitals and pharmacies, change, unlock, reset."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictInt

from services.activation.password_handlers import PasswordHandlers, Proof
from services.activation.payment import Settlement, amount_band
from shared.authority import Caller
from shared.http import ERROR_RESPONSES, request_causation

router = APIRouter(prefix="/v1", tags=["passwords"], responses=ERROR_RESPONSES)


#: A hospital's or pharmacy's own id: letters, digits, dashes (no personal data).
FACILITY_ID = r"^[A-Za-z0-9\-]{1,40}$"


class SettlementDetails(BaseModel):
    """Where and for how much a settlement is asked (both optional, recorded)."""

    model_config = ConfigDict(extra="forbid")

    amount_fen: StrictInt | None = Field(
        None, ge=0, le=10**10, description="The amount in fen (recorded as a band)."
    )
    facility_id: str | None = Field(
        None, description="The hospital's or pharmacy's own id.", pattern=FACILITY_ID
    )

    def settlement(self, channel: str) -> Settlement:
        """The settlement as recorded, asked by ``channel``."""
        return Settlement(channel, self.facility_id, amount_band(self.amount_fen))


class SettlementCheck(SettlementDetails):
    """The password the holder entered on the terminal."""

    model_config = ConfigDict(extra="forbid")

    card_id: str = Field(description="The card inserted.", max_length=64)
    password: SecretStr = Field(max_length=64, description="The 6-digit service password.")


class PasswordChange(BaseModel):
    """Change the service password."""

    model_config = ConfigDict(extra="forbid")

    current_password: SecretStr = Field(
        max_length=64, description="The current (or initial) password."
    )
    new_password: SecretStr = Field(
        max_length=64, description="6 digits; not a run, not one repeated digit."
    )
    id_number: SecretStr | None = Field(
        None, description="The holder's ID number, only to refuse a password taken from it."
    )


class PasswordRecovery(BaseModel):
    """Unlock (no new password) or reset, with the holder's proof."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(description="The holder.", max_length=64)
    new_password: SecretStr | None = Field(None, description="The new password, for a reset.")
    id_checked: bool = Field(False, description="Window: the clerk checked the ID card.")
    sms_code_verified: bool = Field(
        False, description="Online: the channel verified an SMS code to the holder's phone."
    )
    id_number: SecretStr | None = Field(
        None, description="The holder's ID number, only to refuse a password taken from it."
    )


class Done(BaseModel):
    """The action was accepted."""

    card_id: str = Field(description="The card.")
    outcome: str = Field(description="authorized, changed, unlocked or reset.")


def _passwords(request: Request) -> PasswordHandlers:
    handlers: PasswordHandlers = request.app.state.handlers.passwords
    return handlers


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@router.post("/settlements/authorize", response_model=Done)
async def authorize(body: SettlementCheck, request: Request, caller: Caller) -> Done:
    """Check the service password before a medical settlement."""
    await _passwords(request).authorize(
        card_id=body.card_id,
        password=body.password.get_secret_value(),
        settlement=body.settlement(caller.role),
        causation=request_causation(request),
    )
    return Done(card_id=body.card_id, outcome="authorized")


@router.post("/cards/{card_id}/password", status_code=201, response_model=Done)
async def change(card_id: str, body: PasswordChange, request: Request, caller: Caller) -> Done:
    """Change the password (the initial one must be changed before the first settlement)."""
    await _passwords(request).change(
        card_id=card_id,
        current=body.current_password.get_secret_value(),
        new=body.new_password.get_secret_value(),
        id_number=_secret(body.id_number),
        channel=caller.role,
        causation=request_causation(request),
    )
    return Done(card_id=card_id, outcome="changed")


@router.post("/cards/{card_id}/password/recovery", status_code=201, response_model=Done)
async def recover(card_id: str, body: PasswordRecovery, request: Request, caller: Caller) -> Done:
    """Unlock at a window with the ID card; or reset (window, or online with an SMS code and a
    recent face verification)."""
    await _passwords(request).recover(
        card_id=card_id,
        proof=Proof(
            body.person_id, body.id_checked and caller.role == "window", body.sms_code_verified
        ),
        new=_secret(body.new_password),
        id_number=_secret(body.id_number),
        channel=caller.role,
        causation=request_causation(request),
    )
    return Done(card_id=card_id, outcome="reset" if body.new_password else "unlocked")


class ECardPayment(SettlementDetails):
    """The e-card password entered to pay with the e-card's code."""

    model_config = ConfigDict(extra="forbid")

    password: SecretStr = Field(max_length=64, description="The e-card's 6-digit password.")


@router.post("/ecards/{person_id}/payments/authorize", response_model=Done)
async def authorize_ecard(
    person_id: str, body: ECardPayment, request: Request, caller: Caller
) -> Done:
    """Check the e-card password for a payment; its lock never touches the physical card."""
    await _passwords(request).authorize_ecard(
        person_id=person_id,
        password=body.password.get_secret_value(),
        settlement=body.settlement(caller.role),
        causation=request_causation(request),
    )
    return Done(card_id=person_id, outcome="authorized")


@router.post("/ecards/{person_id}/password/recovery", status_code=201, response_model=Done)
async def recover_ecard(
    person_id: str, body: PasswordRecovery, request: Request, caller: Caller
) -> Done:
    """Unlock or reset the e-card password (window with ID, or SMS code + face check)."""
    await _passwords(request).recover(
        card_id=person_id,
        kind="electronic",
        proof=Proof(
            body.person_id, body.id_checked and caller.role == "window", body.sms_code_verified
        ),
        new=_secret(body.new_password),
        id_number=_secret(body.id_number),
        channel=caller.role,
        causation=request_causation(request),
    )
    return Done(card_id=person_id, outcome="reset" if body.new_password else "unlocked")
