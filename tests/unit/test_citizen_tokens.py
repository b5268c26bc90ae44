"""Citizen tokens and the policy, without a network: what a token proves, what it never does,
and a service that will not start with a route the policy does not name."""

from __future__ import annotations

import base64
import os
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi import APIRouter
from pydantic import ValidationError

from services.identity.settings import IdentitySettings
from shared import citizen
from shared.app import service_app
from shared.authority import Caller, remembered
from shared.envelope import utc_now
from shared.policy import POLICY, markdown_table
from shared.settings import ServiceSettings
from shared.signing import PublicKeys, SigningKeys, public_b64
from tests.unit.samples import NOW, production_secrets

KEYS = SigningKeys.from_seeds({"k1": os.urandom(32)})


def test_a_token_says_who_signed_in_where_until_when() -> None:
    raw, issued = citizen.issue(KEYS, "p1", "alipay-mini", utc_now(), timedelta(minutes=15))
    header = jwt.get_unverified_header(raw)
    assert (header["alg"], header["kid"]) == ("EdDSA", "k1")
    claims = jwt.decode(raw, options={"verify_signature": False})
    assert {"iss", "aud", "sub", "azp", "jti", "iat", "exp"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 900
    assert (issued.person_id, issued.channel) == ("p1", "alipay-mini")
    checked = citizen.verify(KEYS.public, raw)
    assert (checked.person_id, checked.channel, checked.token_id) == (
        "p1",
        "alipay-mini",
        issued.token_id,
    )


def test_a_token_lives_thirty_minutes_at_most() -> None:
    _, issued = citizen.issue(KEYS, "p1", "app", NOW, timedelta(hours=5))
    assert issued.expires_at - NOW == citizen.MAX_TTL
    claims = {"iss": citizen.ISSUER, "aud": citizen.AUDIENCE, "sub": "p1", "azp": "app"}
    long = KEYS.sign({**claims, "jti": "j", "iat": 1, "exp": 2**31})
    with pytest.raises(citizen.TokenRefusedError) as refused:
        citizen.verify(KEYS.public, long)
    assert refused.value.code == "TOKEN_INVALID"


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda raw: raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB"), "TOKEN_INVALID"),
        (lambda raw: "not.a.token", "TOKEN_INVALID"),
        (lambda raw: "", "TOKEN_INVALID"),
        (
            lambda raw: jwt.encode(
                jwt.decode(raw, options={"verify_signature": False}), "s" * 32, "HS256"
            ),
            "TOKEN_INVALID",
        ),
    ],
)
def test_an_altered_or_foreign_token_proves_nothing(tamper: object, code: str) -> None:
    raw, _ = citizen.issue(KEYS, "p1", "app", utc_now(), timedelta(minutes=5))
    with pytest.raises(citizen.TokenRefusedError) as refused:
        citizen.verify(KEYS.public, tamper(raw))  # type: ignore[operator]
    assert refused.value.code == code


def test_expired_unknown_key_and_rotation() -> None:
    old, _ = citizen.issue(KEYS, "p1", "app", utc_now() - timedelta(hours=1), timedelta(minutes=5))
    with pytest.raises(citizen.TokenRefusedError) as expired:
        citizen.verify(KEYS.public, old)
    assert expired.value.code == "TOKEN_EXPIRED"
    fresh, _ = citizen.issue(KEYS, "p1", "app", utc_now(), timedelta(minutes=5))
    stranger = SigningKeys.from_seeds({"k2": os.urandom(32)}).public
    with pytest.raises(citizen.TokenRefusedError):
        citizen.verify(stranger, fresh)
    # After a rotation both keys verify: tokens in flight stay good.
    new = SigningKeys.from_seeds({"k2": os.urandom(32)})
    both = PublicKeys({**new.public.keys, **KEYS.public.keys})
    assert citizen.verify(both, fresh).person_id == "p1"
    assert [k["kid"] for k in both.jwks()["keys"]] == ["k2", "k1"]


def test_token_keys_are_real_and_the_signing_key_is_published() -> None:
    seed = os.urandom(32)
    with pytest.raises(ValidationError, match="SHEBAO_CITIZEN_TOKEN_KEYS"):
        IdentitySettings(citizen_token_seeds={"t9": base64.b64encode(seed).decode()})
    listed = IdentitySettings(
        citizen_token_seeds={"t9": base64.b64encode(seed).decode()},
        SHEBAO_CITIZEN_TOKEN_KEYS={"t9": public_b64(seed)},
    )
    assert listed.token_keys().current == "t9"
    with pytest.raises(ValidationError, match="SHEBAO_CITIZEN_TOKEN_KEYS"):
        ServiceSettings(**{**production_secrets(), "SHEBAO_CITIZEN_TOKEN_KEYS": {}})
    dev = {citizen.DEV_KEY_ID: citizen.DEV_PUBLIC}
    with pytest.raises(ValidationError, match="development citizen token key"):
        ServiceSettings(**{**production_secrets(), "SHEBAO_CITIZEN_TOKEN_KEYS": dev})


def test_a_route_without_a_policy_stops_the_service() -> None:
    router = APIRouter(prefix="/v1")

    @router.get("/something-new")
    async def something_new(_: Caller) -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="GET /v1/something-new"):
        service_app(
            service="notification",
            settings=ServiceSettings(),
            description="",
            routers=[router],
            status_of=lambda _: 409,
            migrations=[],
        )


def test_readme_carries_the_policy_table() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert markdown_table() in readme, "python -m shared.policy prints the table README needs"
    assert sum(len(rules) for rules in POLICY.values()) == markdown_table().count("\n") - 2


def test_a_remembered_token_still_expires() -> None:
    public = KEYS.public
    # Signed a second before the longest life ran out: it has about a second left.
    now = utc_now() - citizen.MAX_TTL + timedelta(seconds=1)
    raw, issued = citizen.issue(KEYS, "p1", "app", now, citizen.MAX_TTL)
    assert citizen.verify(public, raw).token_id == issued.token_id
    assert raw in public.verified, "the signature is checked once per process"
    time.sleep(max(0.0, (issued.expires_at - utc_now()).total_seconds()) + 0.05)
    with pytest.raises(citizen.TokenRefusedError) as refused:
        citizen.verify(public, raw)
    assert refused.value.code == "TOKEN_EXPIRED"


def test_a_refused_token_is_not_remembered() -> None:
    public = KEYS.public
    raw, _ = citizen.issue(KEYS, "p1", "app", utc_now(), timedelta(minutes=5))
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(citizen.TokenRefusedError):
            citizen.verify(public, forged)
    assert forged not in public.verified


async def test_a_holder_once_known_is_remembered_and_an_unknown_one_asked_again() -> None:
    asked: list[str] = []
    holders = {"c1": "p1"}

    async def lookup(_: Any, card_id: str) -> str | None:
        asked.append(card_id)
        return holders.get(card_id)

    holder = remembered(lookup)
    conn: Any = None  # the lookup above needs no database
    assert [await holder(conn, "c1"), await holder(conn, "c1")] == ["p1", "p1"]
    assert await holder(conn, "c2") is None
    holders["c2"] = "p2"  # card learned of it a moment later
    assert await holder(conn, "c2") == "p2"
    assert asked == ["c1", "c2", "c2"]
