"""Signed face-check results: signature, subject, freshness, liveness, score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from services.identity.errors import (
    FaceProviderUnknownError,
    FaceResultStaleError,
    FaceSignatureInvalidError,
    FaceSubjectMismatchError,
)
from services.identity.facecheck import authenticate_face_check, face_failure, load_public_keys
from shared.contracts.facecheck import FaceCheckResult, public_key_b64, sign_face_check

ID = "11010519491231002X"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(b"k" * 32)
KEYS = load_public_keys({"acme": [public_key_b64(KEY)]})


def signed(**overrides: object) -> FaceCheckResult:
    fields: dict[str, object] = {
        "provider": "acme",
        "nonce": "n" * 16,
        "id_number": ID,
        "checked_at": NOW,
        "score": 95.0,
        "liveness_passed": True,
    } | overrides
    return sign_face_check(KEY, **fields)  # type: ignore[arg-type]


def check(result: FaceCheckResult, now: datetime = NOW, id_number: str = ID) -> None:
    authenticate_face_check(
        result, keys=KEYS, id_number=id_number, now=now, max_age=timedelta(minutes=5)
    )


def test_a_fresh_signed_result_is_accepted() -> None:
    check(signed())
    assert face_failure(signed(), min_score=80) is None


def test_failed_liveness_or_a_low_score_fail_the_person() -> None:
    assert face_failure(signed(liveness_passed=False), min_score=80) == "FACE_LIVENESS_FAILED"
    assert face_failure(signed(score=79.9), min_score=80) == "FACE_SCORE_TOO_LOW"


def test_a_rotated_key_is_accepted_beside_the_old_one() -> None:
    new = Ed25519PrivateKey.from_private_bytes(b"n" * 32)
    keys = load_public_keys({"acme": [public_key_b64(KEY), public_key_b64(new)]})
    result = sign_face_check(
        new,
        provider="acme",
        nonce="m" * 16,
        id_number=ID,
        checked_at=NOW,
        score=90,
        liveness_passed=True,
    )
    authenticate_face_check(result, keys=keys, id_number=ID, now=NOW, max_age=timedelta(minutes=5))


@pytest.mark.parametrize(
    ("result", "error"),
    [
        (signed(provider="unknown"), FaceProviderUnknownError),
        (signed().model_copy(update={"score": 99.0}), FaceSignatureInvalidError),
        (signed().model_copy(update={"signature": "not base64!"}), FaceSignatureInvalidError),
    ],
)
def test_refusals(result: FaceCheckResult, error: type[Exception]) -> None:
    with pytest.raises(error):
        check(result)


def test_a_check_made_for_another_id_number_is_refused() -> None:
    with pytest.raises(FaceSubjectMismatchError):
        check(signed(), id_number="110105194912310036")


@given(st.integers(min_value=301, max_value=10**7))
def test_stale_results_are_refused(age_s: int) -> None:
    with pytest.raises(FaceResultStaleError):
        check(signed(), now=NOW + timedelta(seconds=age_s))


@given(st.integers(min_value=31, max_value=10**7))
def test_results_from_the_future_are_refused(ahead_s: int) -> None:
    with pytest.raises(FaceResultStaleError):
        check(signed(), now=NOW - timedelta(seconds=ahead_s))
