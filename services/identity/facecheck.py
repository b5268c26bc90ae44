"""Signed face-check results from certified providers: verify signature, freshness, thresholds.
The result's shape and how a provider signs it are a contract (shared/contracts/facecheck.py).

The platform never sees a face: the provider's device compares the face with the ID photo,
checks liveness, and signs the outcome with its Ed25519 key.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.identity.errors import (
    FaceProviderUnknownError,
    FaceResultStaleError,
    FaceSignatureInvalidError,
    FaceSubjectMismatchError,
)
from shared.contracts.facecheck import FaceCheckResult, subject_digest
from shared.contracts.identity import FailureReason

CLOCK_SKEW = timedelta(seconds=30)


def load_public_keys(config: Mapping[str, Sequence[str]]) -> dict[str, list[Ed25519PublicKey]]:
    """Provider name -> its accepted public keys (several during a key rotation)."""
    return {
        name: [Ed25519PublicKey.from_public_bytes(base64.b64decode(k)) for k in keys]
        for name, keys in config.items()
    }


def authenticate_face_check(
    result: FaceCheckResult,
    *,
    keys: Mapping[str, Sequence[Ed25519PublicKey]],
    id_number: str,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Accept the result as genuine, fresh and about this ID number, or raise why not."""
    provider_keys = keys.get(result.provider)
    if not provider_keys:
        raise FaceProviderUnknownError()
    try:
        signature = base64.b64decode(result.signature, validate=True)
    except ValueError:
        raise FaceSignatureInvalidError() from None
    if not any(_valid(k, signature, result.signed_bytes()) for k in provider_keys):
        raise FaceSignatureInvalidError()
    if result.subject_digest != subject_digest(id_number):
        raise FaceSubjectMismatchError()
    if result.checked_at > now + CLOCK_SKEW or now - result.checked_at > max_age:
        raise FaceResultStaleError()


def face_failure(result: FaceCheckResult, *, min_score: float) -> FailureReason | None:
    """Why an authentic face check failed the person (counts toward the lock), or None."""
    if not result.liveness_passed:
        return "FACE_LIVENESS_FAILED"
    if result.score < min_score:
        return "FACE_SCORE_TOO_LOW"
    return None


def _valid(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
