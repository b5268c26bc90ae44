"""The face-check result a certified provider signs and a channel forwards: its fields, the
canonical bytes signed, and how a provider's device signs one (the demo's face provider and
the tests sign with it; identity verifies in services/identity/facecheck.py).

The platform never sees a face: the provider's device compares the face with the ID photo,
checks liveness, and signs the outcome with its Ed25519 key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field


class FaceCheckResult(BaseModel):
    """What a channel forwards from the provider: the outcome, never the image."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str = Field(description="Certified provider that ran the check.", max_length=64)
    nonce: str = Field(
        description="Unique id of this check (single use).", min_length=16, max_length=64
    )
    subject_digest: str = Field(
        description="SHA-256 (hex) of the ID number the check was made for.",
        pattern=r"^[0-9a-f]{64}$",
    )
    checked_at: datetime = Field(description="When the provider ran the check (RFC 3339).")
    score: float = Field(description="Similarity of face and ID photo, 0-100.", ge=0, le=100)
    liveness_passed: bool = Field(description="Whether the liveness check passed.")
    signature: str = Field(description="Base64 Ed25519 signature over the other fields.")

    def signed_bytes(self) -> bytes:
        """The canonical bytes the provider signs: sorted-key compact JSON without signature."""
        fields = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def subject_digest(id_number: str) -> str:
    """The digest binding a face check to one ID number."""
    return hashlib.sha256(id_number.encode()).hexdigest()


def sign_face_check(
    key: Ed25519PrivateKey,
    *,
    provider: str,
    nonce: str,
    id_number: str,
    checked_at: datetime,
    score: float,
    liveness_passed: bool,
) -> FaceCheckResult:
    """What a provider's device does: sign an outcome (used by the demo and tests)."""
    unsigned = FaceCheckResult(
        provider=provider,
        nonce=nonce,
        subject_digest=subject_digest(id_number),
        checked_at=checked_at,
        score=score,
        liveness_passed=liveness_passed,
        signature="",
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return unsigned.model_copy(update={"signature": signature})


def dev_provider_key() -> Ed25519PrivateKey:
    """The development provider's key: derived from a public seed, refused in production."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"shebao-dev-face").digest())


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The base64 raw public key of a private key, as settings expect it."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()
