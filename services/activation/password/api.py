"""Password routes: settlement checks at hospitals and pharmacies, change, unlock, reset."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictInt

from services.activation.errors import IdCheckRequiredError
from services.activation.password.handlers import PasswordHandlers, Proof
from services.activation.payment.domain import Settlement, amount_band
from shared.authority import Caller
from shared.deps import port
from shared.http import ERROR_RESPONSES, request_causation

Passwords = Annotated[PasswordHandlers, port(PasswordHandlers)]
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


class SmsCodeProof(BaseModel):
    """The one-time code the holder received by SMS."""

    model_config = ConfigDict(extra="forbid")

    code_id: str = Field(description="The id answered when the code was asked for.", max_length=64)
    code: SecretStr = Field(description="The 6 digits received.", max_length=16)


class SmsCodeRequest(BaseModel):
    """Ask for a one-time code by SMS."""

    model_config = ConfigDict(extra="forbid")

    purpose: Literal["password_recovery"] = Field(
        "password_recovery", description="What the code is for."
    )


class SmsCodeSent(BaseModel):
    """A code is on its way (never in this answer): send it back with its id."""

    code_id: str = Field(description="Send it back with the code.")
    expires_at: datetime = Field(description="When the code stops working (UTC).")


class PasswordRecovery(BaseModel):
    """Unlock (no new password) or reset, with the holder's proof."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(description="The holder.", max_length=64)
    new_password: SecretStr | None = Field(None, description="The new password, for a reset.")
    id_checked: bool = Field(False, description="Window: the clerk checked the ID card.")
    sms_code: SmsCodeProof | None = Field(
        None, description="Online: the one-time code sent by SMS to the holder, and its id."
    )
    id_number: SecretStr | None = Field(
        None, description="The holder's ID number, only to refuse a password taken from it."
    )


class Done(BaseModel):
    """The action was accepted."""

    card_id: str = Field(description="The card.")
    outcome: str = Field(description="authorized, changed, unlocked or reset.")


def _proof(body: PasswordRecovery, role: str) -> Proof:
    if role == "window" and not body.id_checked:
        raise IdCheckRequiredError()  # at a counter the ID card is the proof, not a code
    code = body.sms_code
    return Proof(
        body.person_id,
        id_checked=body.id_checked and role == "window",
        sms_code=(code.code_id, code.code.get_secret_value()) if code else None,
    )


@router.post("/persons/{person_id}/sms-codes", status_code=201, response_model=SmsCodeSent)
async def sms_code(
    person_id: str,
    request: Request,
    _: Caller,
    passwords: Passwords,
    body: SmsCodeRequest | None = None,
) -> SmsCodeSent:
    """Send the holder a one-time code by SMS (6 digits, 5 minutes, single use, 5 tries), to
    the mobile number they gave for notifications; at most one a minute."""
    issued = await passwords.sms.issue(person_id, request_causation(request))
    return SmsCodeSent(code_id=issued.code_id, expires_at=issued.expires_at)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@router.post("/settlements/authorize", response_model=Done)
async def authorize(
    body: SettlementCheck, request: Request, caller: Caller, passwords: Passwords
) -> Done:
    """Check the service password before a medical settlement."""
    await passwords.authorize(
        card_id=body.card_id,
        password=body.password.get_secret_value(),
        settlement=body.settlement(caller.role),
        causation=request_causation(request),
    )
    return Done(card_id=body.card_id, outcome="authorized")


@router.post("/cards/{card_id}/password", status_code=201, response_model=Done)
async def change(
    card_id: str, body: PasswordChange, request: Request, caller: Caller, passwords: Passwords
) -> Done:
    """Change the password (the initial one must be changed before the first settlement)."""
    await passwords.change(
        card_id=card_id,
        current=body.current_password.get_secret_value(),
        new=body.new_password.get_secret_value(),
        id_number=_secret(body.id_number),
        channel=caller.role,
        causation=request_causation(request),
    )
    return Done(card_id=card_id, outcome="changed")


@router.post("/cards/{card_id}/password/recovery", status_code=201, response_model=Done)
async def recover(
    card_id: str, body: PasswordRecovery, request: Request, caller: Caller, passwords: Passwords
) -> Done:
    """Unlock at a window with the ID card; or reset (window, or online with an SMS code and a
    recent face verification)."""
    await passwords.recover(
        card_id=card_id,
        proof=_proof(body, caller.role),
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
    person_id: str, body: ECardPayment, request: Request, caller: Caller, passwords: Passwords
) -> Done:
    """Check the e-card password for a payment; its lock never touches the physical card."""
    await passwords.authorize_ecard(
        person_id=person_id,
        password=body.password.get_secret_value(),
        settlement=body.settlement(caller.role),
        causation=request_causation(request),
    )
    return Done(card_id=person_id, outcome="authorized")


@router.post("/ecards/{person_id}/password/recovery", status_code=201, response_model=Done)
async def recover_ecard(
    person_id: str, body: PasswordRecovery, request: Request, caller: Caller, passwords: Passwords
) -> Done:
    """Unlock or reset the e-card password (window with ID, or SMS code + face check)."""
    await passwords.recover(
        card_id=person_id,
        kind="electronic",
        proof=_proof(body, caller.role),
        new=_secret(body.new_password),
        id_number=_secret(body.id_number),
        channel=caller.role,
        causation=request_causation(request),
    )
    return Done(card_id=person_id, outcome="reset" if body.new_password else "unlocked")
