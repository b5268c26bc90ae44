"""The e-card's payment code: signed, one minute, verifiable offline from the published keys,
refused when forged, altered or expired; the signing keys' settings."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import jwt
import pytest
from pydantic import ValidationError

from services.activation.payment.codes import (
    AUDIENCE,
    DEV_SEED,
    CodeKeys,
    CodeRefusedError,
    qr_png_base64,
    qr_svg,
)
from services.activation.settings import ActivationSettings
from shared.signing import SigningKeys
from tests.unit.samples import NOW, production_secrets

MINUTE = timedelta(seconds=60)


def keys(*names: str) -> CodeKeys:
    return CodeKeys.from_seeds({name: os.urandom(32) for name in names})


def refusal(codes: CodeKeys, token: str, seconds_later: float = 1) -> str:
    with pytest.raises(CodeRefusedError) as refused:
        codes.verify(token, NOW + timedelta(seconds=seconds_later))
    return refused.value.code


def test_a_code_names_person_card_and_channel_for_one_minute() -> None:
    codes = keys("k1")
    token, issued = codes.issue("p1", "c1", "citizen_app", NOW, MINUTE)
    read = codes.verify(token, NOW + timedelta(seconds=59))
    assert read == issued
    assert not read.expired
    assert (read.person_id, read.card_id, read.channel) == ("p1", "c1", "citizen_app")
    # A genuine code past its minute is read as expired, so that its refusal is recorded.
    assert codes.verify(token, NOW + timedelta(seconds=60)).expired


def test_a_terminal_verifies_a_code_offline_from_the_published_keys() -> None:
    codes = keys("k1")
    token, issued = codes.issue("p1", "c1", "citizen_app", NOW, MINUTE)
    [published] = codes.jwks()["keys"]
    assert "d" not in published, "only the public part is published"
    key = jwt.PyJWK(published).key
    claims = jwt.decode(
        token, key, algorithms=["EdDSA"], audience=AUDIENCE, options={"verify_exp": False}
    )
    assert (claims["jti"], claims["sub"], claims["card"]) == (issued.code_id, "p1", "c1")


def test_forged_altered_or_foreign_codes_are_refused() -> None:
    codes, stranger = keys("k1"), keys("k1")
    token, _ = codes.issue("p1", "c1", "citizen_app", NOW, MINUTE)
    forged, _ = stranger.issue("p1", "c1", "citizen_app", NOW, MINUTE)
    assert refusal(codes, forged) == "PAYMENT_CODE_INVALID"
    header, payload, signature = token.split(".")
    claims = base64.urlsafe_b64decode(payload + "==").replace(b'"p1"', b'"p2"')
    altered = ".".join([header, base64.urlsafe_b64encode(claims).decode().rstrip("="), signature])
    assert refusal(codes, altered) == "PAYMENT_CODE_INVALID"
    unsigned = jwt.encode({"sub": "p1"}, None, algorithm="none")
    for junk in ("", "abc", "a.b.c", unsigned, token + "x"):
        assert refusal(codes, junk) == "PAYMENT_CODE_INVALID", junk


def test_codes_signed_before_a_key_rotation_still_verify() -> None:
    old = keys("k1")
    token, _ = old.issue("p1", "c1", "citizen_app", NOW, MINUTE)
    rotated = CodeKeys(SigningKeys({"k2": keys("k2").keys["k2"], "k1": old.keys["k1"]}))
    assert rotated.verify(token, NOW).person_id == "p1"
    new_token, _ = rotated.issue("p1", "c1", "citizen_app", NOW, MINUTE)
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert [k["kid"] for k in rotated.jwks()["keys"]] == ["k2", "k1"]


def test_the_qr_code_is_rendered_as_svg_and_png() -> None:
    token, _ = keys("k1").issue("p1", "c1", "citizen_app", NOW, MINUTE)
    assert "<svg" in qr_svg(token)
    assert base64.b64decode(qr_png_base64(token)).startswith(b"\x89PNG")


def test_signing_keys_are_real_and_required_in_production() -> None:
    seed = base64.b64encode(os.urandom(32)).decode()
    assert ActivationSettings(payment_code_keys={"k1": seed}).code_keys().keys
    for bad in ("not base64!", base64.b64encode(b"short").decode(), base64.b64encode(DEV_SEED)):
        with pytest.raises(ValidationError):
            ActivationSettings(payment_code_keys={"k1": bad})
    with pytest.raises(ValidationError, match="PAYMENT_CODE_KEYS"):
        ActivationSettings(**production_secrets())
    production = ActivationSettings(**production_secrets(), payment_code_keys={"k1": seed})
    assert list(production.code_keys().keys) == ["k1"]
