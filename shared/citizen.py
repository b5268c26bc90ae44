"""Citizen tokens: the proof that a citizen signed in on a self-service channel.

Identity issues one when a citizen passes a real-person verification (name + ID number + a
signed face check) through a self-service channel: a JWS (EdDSA) whose subject is the person
id, bound to the channel credential it was issued to, with an audience, a token id and an
expiry of at most 30 minutes. Every service verifies it offline with identity's public keys
(``SHEBAO_CITIZEN_TOKEN_KEYS``, also published at ``GET /v1/citizen-tokens/keys``): no call
to identity.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from shared.signing import PublicKeys, SigningKeys, decode_key, public_b64

ISSUER = "shebao-identity"
AUDIENCE = "shebao-citizen"
#: The longest a token lives.
MAX_TTL = timedelta(minutes=30)
#: A development key, derived from a public phrase: refused in production.
DEV_KEY_ID = "dev-citizen-1"
DEV_SEED = hashlib.sha256(b"shebao development citizen token key").digest()
DEV_PUBLIC = public_b64(DEV_SEED)


class TokenRefusedError(Exception):
    """A token that proves nothing; ``code`` says why (HTTP 401)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CitizenToken:
    """What a valid token says."""

    person_id: str
    channel: str
    token_id: str
    expires_at: datetime


def issue(
    keys: SigningKeys, person_id: str, channel: str, now: datetime, ttl: timedelta
) -> tuple[str, CitizenToken]:
    """A new token for a person signed in through the channel credential ``channel``."""
    expires = now + min(ttl, MAX_TTL)
    token = CitizenToken(person_id, channel, str(uuid.uuid4()), expires)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": person_id,
        "azp": channel,
        "jti": token.token_id,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return keys.sign(claims), token


#: Citizen tokens whose signature a process has checked (per key set), kept for their life:
#: a signed-in citizen's next request checks only the expiry (an Ed25519 verification and
#: the JSON cost ~10% of a read).
REMEMBERED_TOKENS = 10_000


def verify(keys: PublicKeys, token: str) -> CitizenToken:
    """What a token says, if identity signed it for this audience and it has not expired."""
    known: CitizenToken | None = keys.verified.get(token)
    if known is None:
        claims = _claims(keys, token, AUDIENCE, "TOKEN", "citizen token", ["jti"], MAX_TTL)
        known = CitizenToken(
            str(claims["sub"]),
            str(claims["azp"]),
            str(claims["jti"]),
            datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
        )
        if len(keys.verified) >= REMEMBERED_TOKENS:
            del keys.verified[next(iter(keys.verified))]  # the oldest
        keys.verified[token] = known
    # As PyJWT does: expired from the second ``exp`` names.
    if known.expires_at <= datetime.now(UTC):
        raise TokenRefusedError("TOKEN_EXPIRED", "The citizen token has expired.")
    return known


def _claims(
    keys: PublicKeys,
    raw: str,
    audience: str,
    code: str,
    what: str,
    require: list[str],
    longest: timedelta,
) -> dict[str, Any]:
    """The claims of a JWS identity signed for ``audience``, or TokenRefusedError with
    ``<code>_EXPIRED`` / ``<code>_INVALID``."""
    try:
        claims = keys.decode(
            raw, audience=audience, issuer=ISSUER, require=["exp", "iat", "sub", "azp", *require]
        )
    except jwt.ExpiredSignatureError:
        raise TokenRefusedError(f"{code}_EXPIRED", f"The {what} has expired.") from None
    except jwt.PyJWTError:
        raise TokenRefusedError(f"{code}_INVALID", f"The {what} is not valid.") from None
    if int(claims["exp"]) - int(claims["iat"]) > longest.total_seconds():
        raise TokenRefusedError(f"{code}_INVALID", f"The {what} lives too long.")
    return claims


def public_keys(configured: Mapping[str, str], *, production: bool) -> PublicKeys:
    """Identity's public keys from ``SHEBAO_CITIZEN_TOKEN_KEYS`` (key id -> base64 of the raw
    32-byte Ed25519 public key); empty outside production: the development key."""
    if not configured:
        if production:
            raise ValueError("production needs SHEBAO_CITIZEN_TOKEN_KEYS")
        configured = {DEV_KEY_ID: DEV_PUBLIC}
    elif production and DEV_PUBLIC in configured.values():
        raise ValueError("the development citizen token key is refused in production")
    return PublicKeys.from_raw(
        {kid: decode_key(v, f"citizen token key {kid}") for kid, v in configured.items()}
    )


GRANT_AUDIENCE = "shebao-family-grant"
#: The longest a family grant lives: an unlink takes effect everywhere within it.
MAX_GRANT_TTL = timedelta(minutes=2)


@dataclass(frozen=True)
class FamilyGrant:
    """Identity's word, a moment ago, that ``holder`` linked ``member`` (on one channel)."""

    holder: str
    member: str
    channel: str
    expires_at: datetime


def grant(
    keys: SigningKeys, holder: str, member: str, channel: str, now: datetime, ttl: timedelta
) -> tuple[str, FamilyGrant]:
    """A short-lived grant for a family holder to act for a member they linked."""
    expires = now + min(ttl, MAX_GRANT_TTL)
    claims = {
        "iss": ISSUER,
        "aud": GRANT_AUDIENCE,
        "sub": holder,
        "act_for": member,
        "azp": channel,
        "jti": str(uuid.uuid4()),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return keys.sign(claims), FamilyGrant(holder, member, channel, expires)


def verify_grant(keys: PublicKeys, raw: str) -> FamilyGrant:
    """What a family grant says, if identity signed it and it has not expired."""
    claims = _claims(
        keys, raw, GRANT_AUDIENCE, "FAMILY_GRANT", "family grant", ["act_for"], MAX_GRANT_TTL
    )
    return FamilyGrant(
        str(claims["sub"]),
        str(claims["act_for"]),
        str(claims["azp"]),
        datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
    )
