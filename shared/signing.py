"""Ed25519 (EdDSA) keys that rotate, for the JWS tokens the platform signs (citizen tokens,
payment codes): the newest key signs, every key listed verifies, a token names its key
(``kid``), and the public keys are published as a JWK set (PyJWT does the cryptography)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import OKPAlgorithm


def decode_key(value: str, name: str) -> bytes:
    """A 32-byte key given as base64 in a setting, or a ValueError naming the setting."""
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{name} is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"{name} must be 32 bytes")
    return raw


def public_b64(seed: bytes) -> str:
    """The base64 raw public key of an Ed25519 seed (what verifiers are configured with)."""
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


class UnknownKeyError(jwt.InvalidTokenError):
    """The token names no key listed here."""


@dataclass(frozen=True)
class PublicKeys:
    """Verifying keys by key id."""

    keys: Mapping[str, Ed25519PublicKey]
    #: Tokens these keys verified, with what they say (``shared.citizen.verify``'s memory).
    verified: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, bytes]) -> PublicKeys:
        """Keys from 32-byte raw Ed25519 public keys, by key id."""
        return cls({kid: Ed25519PublicKey.from_public_bytes(key) for kid, key in raw.items()})

    def jwks(self) -> dict[str, Any]:
        """The keys as a JWK set a verifier can cache."""
        keys = []
        for kid, key in self.keys.items():
            jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
            keys.append({**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": keys}

    def decode(
        self,
        token: str,
        *,
        audience: str,
        issuer: str,
        require: Sequence[str],
        verify_exp: bool = True,
    ) -> dict[str, Any]:
        """The claims of a token one of these keys signed for ``audience`` (PyJWT's
        ExpiredSignatureError when it expired, another InvalidTokenError when it is not one)."""
        kid = jwt.get_unverified_header(token).get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise UnknownKeyError(f"unknown key {kid!r}")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            audience=audience,
            issuer=issuer,
            options={"require": list(require), "verify_exp": verify_exp},
        )
        return claims


@dataclass(frozen=True)
class SigningKeys:
    """Signing keys by key id, newest first: the first signs, all verify."""

    keys: Mapping[str, Ed25519PrivateKey]

    @classmethod
    def from_seeds(cls, seeds: Mapping[str, bytes]) -> SigningKeys:
        """Keys from 32-byte Ed25519 seeds, by key id (the first signs)."""
        return cls({kid: Ed25519PrivateKey.from_private_bytes(s) for kid, s in seeds.items()})

    @property
    def public(self) -> PublicKeys:
        """The verifying halves."""
        return PublicKeys({kid: key.public_key() for kid, key in self.keys.items()})

    @property
    def current(self) -> str:
        """The id of the key that signs."""
        return next(iter(self.keys))

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims`` under the newest key."""
        return jwt.encode(
            dict(claims), self.keys[self.current], algorithm="EdDSA", headers={"kid": self.current}
        )
