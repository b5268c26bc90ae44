"""The e-card's dynamic payment code (展码): a JWS (EdDSA, Ed25519) that names the person, the
card the e-card is bound to and the channel that showed it, valid for one minute. A hospital
or pharmacy checks it offline against the published public keys (JWKS), then redeems it
online, where it authorises one settlement at most.

Signing keys rotate: every key in the settings is published, the first one signs, and a code
says which key (``kid``) signed it."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.signing import SigningKeys

ISSUER = "shebao-activation"
AUDIENCE = "shebao-payment-code"
#: A development key, derived from a public phrase: refused in production.
DEV_KEY_ID = "dev-1"
DEV_SEED = hashlib.sha256(b"shebao development payment code key").digest()


class CodeRefusedError(ValueError):
    """A code that cannot be redeemed; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class PaymentCode:
    """What a valid code says."""

    code_id: str
    person_id: str
    card_id: str
    channel: str
    expires_at: datetime
    #: Past its minute when it was read.
    expired: bool = False


@dataclass(frozen=True)
class CodeKeys:
    """The signing keys, newest first (it signs; all verify)."""

    signing: SigningKeys

    @classmethod
    def from_seeds(cls, seeds: dict[str, bytes]) -> CodeKeys:
        """Keys from 32-byte Ed25519 seeds, by key id (the first signs)."""
        return cls(SigningKeys.from_seeds(seeds))

    @property
    def keys(self) -> Mapping[str, Ed25519PrivateKey]:
        """The signing keys by id."""
        return self.signing.keys

    def jwks(self) -> dict[str, Any]:
        """The public keys, as a JWK set a terminal can cache."""
        return self.signing.public.jwks()

    def issue(
        self, person_id: str, card_id: str, channel: str, now: datetime, ttl: timedelta
    ) -> tuple[str, PaymentCode]:
        """A new signed code and what it says."""
        code = PaymentCode(str(uuid.uuid4()), person_id, card_id, channel, now + ttl)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": code.code_id,
            "sub": person_id,
            "card": card_id,
            "chn": channel,
            "iat": int(now.timestamp()),
            "exp": int(code.expires_at.timestamp()),
        }
        return self.signing.sign(claims), code

    def verify(self, token: str, now: datetime) -> PaymentCode:
        """What the code says, if this platform signed it (``expired`` tells whether it is
        past its minute: the refusal of a genuine code is recorded, so it is not raised)."""
        try:
            claims = self.signing.public.decode(
                token,
                audience=AUDIENCE,
                issuer=ISSUER,
                require=["exp", "jti", "sub", "card", "chn"],
                verify_exp=False,
            )
        except jwt.PyJWTError:
            raise CodeRefusedError("PAYMENT_CODE_INVALID") from None
        return PaymentCode(
            str(claims["jti"]),
            str(claims["sub"]),
            str(claims["card"]),
            str(claims["chn"]),
            datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo),
            expired=int(claims["exp"]) <= now.timestamp(),
        )


@dataclass(frozen=True)
class PaymentCodes:
    """The keys that sign codes, and how long a code lives."""

    keys: CodeKeys
    ttl: timedelta


def qr_svg(token: str) -> str:
    """The code as a QR code, SVG."""
    out = io.BytesIO()
    segno.make(token, error="m").save(out, kind="svg", scale=4)
    return out.getvalue().decode()


def qr_png_base64(token: str) -> str:
    """The code as a QR code, PNG (base64)."""
    out = io.BytesIO()
    segno.make(token, error="m").save(out, kind="png", scale=4)
    return base64.b64encode(out.getvalue()).decode()
