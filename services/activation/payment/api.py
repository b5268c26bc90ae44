"""Routes of the e-card's payment code (展码): shown in the holder's app, checked offline by
a hospital or pharmacy against the published keys, redeemed online once."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.activation.errors import CODE_ERRORS
from services.activation.password.api import Done, SettlementDetails
from services.activation.password.handlers import PasswordHandlers
from services.activation.payment.codes import CodeRefusedError, PaymentCodes, qr_png_base64, qr_svg
from shared.authority import Caller
from shared.deps import port
from shared.envelope import utc_now
from shared.http import ERROR_RESPONSES, request_causation

Passwords = Annotated[PasswordHandlers, port(PasswordHandlers)]
Codes = Annotated[PaymentCodes, port(PaymentCodes)]
router = APIRouter(prefix="/v1", tags=["payment codes"], responses=ERROR_RESPONSES)


class CodeShown(BaseModel):
    """A payment code to show on the holder's screen."""

    code_id: str = Field(description="The code's id (used once).")
    payload: str = Field(description="The signed code (a compact JWS, EdDSA) the QR carries.")
    expires_at: datetime = Field(description="When it stops working (UTC).")
    qr_svg: str = Field(description="The QR code, SVG.")
    qr_png_base64: str = Field(description="The QR code, PNG, base64.")


class Redemption(SettlementDetails):
    """A scanned code, the e-card password the holder entered, and the settlement."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="The payload of the scanned QR code.", max_length=2000)
    password: SecretStr = Field(max_length=64, description="The e-card's 6-digit password.")


@router.post("/ecards/{person_id}/payment-codes", status_code=201, response_model=CodeShown)
async def show(
    person_id: str, request: Request, caller: Caller, passwords: Passwords, codes: Codes
) -> CodeShown:
    """A new code for the holder's e-card, if it may pay now, shown by a channel the holder
    bound it to; valid one minute, used once."""
    card_id = await passwords.paying_ecard(person_id, caller.name)
    codes = codes
    payload, code = codes.keys.issue(person_id, card_id, caller.name, utc_now(), codes.ttl)
    return CodeShown(
        code_id=code.code_id,
        payload=payload,
        expires_at=code.expires_at,
        qr_svg=qr_svg(payload),
        qr_png_base64=qr_png_base64(payload),
    )


@router.post("/payment-codes/redeem", response_model=Done)
async def redeem(
    body: Redemption, request: Request, caller: Caller, passwords: Passwords, codes: Codes
) -> Done:
    """Pay with a shown code and the e-card password: one settlement per code, recorded."""
    try:
        code = codes.keys.verify(body.code, utc_now())
    except CodeRefusedError as exc:
        raise CODE_ERRORS[exc.code]() from None
    settlement = replace(
        body.settlement(caller.role),
        payment_code_id=code.code_id,
        code_card_id=code.card_id,
        code_channel=code.channel,
        code_expired=code.expired,
    )
    await passwords.authorize_ecard(
        person_id=code.person_id,
        password=body.password.get_secret_value(),
        settlement=settlement,
        causation=request_causation(request),
    )
    return Done(card_id=code.card_id, outcome="authorized")


@router.get("/payment-codes/keys")
async def keys(request: Request, caller: Caller, codes: Codes) -> dict[str, Any]:
    """The public keys that verify payment codes offline (a JWK set; cache it, refresh it
    when a code names an unknown ``kid``)."""
    return codes.keys.jwks()
