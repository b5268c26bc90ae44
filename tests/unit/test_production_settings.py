"""Production refuses every development secret by its value, whatever it is called."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from deploy.paths import REPO
from services.identity.settings import IdentitySettings
from shared.contracts.facecheck import dev_provider_key, public_key_b64
from shared.settings import ServiceSettings
from shared.signing import public_b64
from tests.unit.samples import production_secrets


def identity_production(**changes: Any) -> dict[str, Any]:
    """Everything identity needs in production, with fresh keys."""
    seed = os.urandom(32)
    return {
        **production_secrets(),
        "SHEBAO_CITIZEN_TOKEN_KEYS": {"t1": public_b64(seed)},
        "citizen_token_seeds": {"t1": base64.b64encode(seed).decode()},
        "hash_key": "h" * 40,
        "master_key": base64.b64encode(os.urandom(32)).decode(),
        "face_providers": {"certified-face": [public_key_b64(Ed25519PrivateKey.generate())]},
        **changes,
    }


def test_a_real_production_setting_starts() -> None:
    assert IdentitySettings(**identity_production()).environment == "production"


@pytest.mark.parametrize(
    "kafka",
    [
        {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},  # no authentication at all
        {"KAFKA_SASL_PASSWORD": "shebao-dev-kafka-identity"},  # compose's default
        {"KAFKA_SASL_PASSWORD": "short"},
        {"KAFKA_SASL_PASSWORD": None},
    ],
)
def test_kafka_without_a_password_of_its_own_is_refused(kafka: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"Kafka|KAFKA_SASL"):
        ServiceSettings(**{**production_secrets(), **kafka})


def test_the_development_face_key_is_refused_under_any_name() -> None:
    dev_key = public_key_b64(dev_provider_key())
    for providers in (
        {"dev-face": [public_key_b64(Ed25519PrivateKey.generate())]},
        {"certified-face": [dev_key]},
        {"certified-face": [public_key_b64(Ed25519PrivateKey.generate()), dev_key]},
    ):
        with pytest.raises(ValidationError, match="development face provider"):
            IdentitySettings(**identity_production(face_providers=providers))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://shebao:shebao-dev@postgres:5432/shebao",  # compose's default
        "postgresql://postgres@db:5432/postgres",  # none
        "postgresql://shebao:short@db/shebao",
        "postgresql://postgres:postgres@db/postgres",
    ],
)
def test_a_development_database_password_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    with pytest.raises(ValidationError, match=r"database password|DATABASE_URL"):
        ServiceSettings(**{**production_secrets(), "DATABASE_URL": url})


def test_a_password_libpq_finds_elsewhere_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSFILE", "/run/secrets/pgpass")
    url = "postgresql://shebao@db/shebao"
    assert ServiceSettings(**{**production_secrets(), "DATABASE_URL": url}).database_url == url


def test_development_settings_keep_their_defaults() -> None:
    assert ServiceSettings().database_url.startswith("postgresql://postgres@")


@pytest.mark.parametrize(
    ("url", "pgpassword"),
    [
        ("postgresql://shebao:shebao%2Ddev@db/shebao", None),  # percent-encoded
        ("postgresql://shebao@db/shebao", "shebao-dev"),  # given to libpq beside the URL
    ],
)
def test_the_development_password_is_refused_however_it_is_spelled(
    url: str, pgpassword: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSFILE", raising=False)
    if pgpassword:
        monkeypatch.setenv("PGPASSWORD", pgpassword)
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        ServiceSettings(**{**production_secrets(), "DATABASE_URL": url})


def test_a_refused_setting_stops_the_service_in_one_line_without_its_value() -> None:
    seed = base64.b64encode(os.urandom(32)).decode()
    env = {
        "PATH": os.environ["PATH"],
        "SHEBAO_ENV": "production",
        "IDENTITY_CITIZEN_TOKEN_SEEDS": json.dumps({"t1": seed}),
        "SHEBAO_API_KEYS": json.dumps({"secret-operator-key-0123456789": {"role": "operator"}}),
        "DATABASE_URL": "postgresql://shebao:shebao-dev@db/shebao",
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.identity"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "refused to start: SHEBAO_API_KEYS" in result.stderr
    assert "Traceback" not in result.stderr
    for secret in (seed[-20:], "secret-operator-key"):
        assert secret not in result.stderr + result.stdout
