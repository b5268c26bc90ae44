"""The operators' compose file and image: valid, and every command they name exists."""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from deploy.kafka import KAFKA_VERSION, POM
from deploy.paths import REPO
from shared.settings import ServiceSettings

APP_SERVICES = ("identity", "card", "activation", "notification")
#: Compose's Kafka users, each with a password variable KAFKA_<USER>_PASSWORD.
KAFKA_USERS = ("ADMIN", *(s.upper() for s in APP_SERVICES), "OPERATOR", "INTEGRATOR_DEMO")


def compose_command() -> list[str]:
    """`docker compose` (plugin) or Debian's `docker-compose`; neither needs an engine."""
    plugin = (
        subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if shutil.which("docker")
        else None
    )
    if plugin is not None and plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise AssertionError(
        "validating docker-compose.yml needs `docker compose` or `docker-compose` "
        "(Debian: apt-get install docker-compose); `make install` installs it where it can"
    )


#: Settings that change what the compose file resolves to (deploy/engine.sh sets some).
COMPOSE_VARIABLES = re.compile(r"^(KAFKA|POSTGRES|PYTHON|SHEBAO)_IMAGE$|_PORT$")


def resolved_compose() -> dict[str, Any]:
    """The compose file as an operator gets it with nothing set."""
    result = subprocess.run(
        [*compose_command(), "-f", str(REPO / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not COMPOSE_VARIABLES.search(k)},
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_compose_file_is_valid_and_complete() -> None:
    services = resolved_compose()["services"]
    default = {name for name, service in services.items() if not service.get("profiles")}
    jobs = {"kafka-tls", "kafka-provision"}
    assert default == {"kafka", *jobs, "postgres", "gateway", "sink", "console", *APP_SERVICES}
    for name in ("kafka", "postgres", "gateway", "sink", "console", *APP_SERVICES):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} needs a healthcheck"
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["kafka-provision"]["condition"] == "service_completed_successfully"
        # No fixed host port: `--scale` works, the gateway publishes each service's port.
        assert "ports" not in services[name], name
    assert services["kafka-provision"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for broker in ("kafka", "kafka-2", "kafka-3"):
        tls = services[broker]["depends_on"]["kafka-tls"]["condition"]
        assert tls == "service_completed_successfully", broker
    assert {n for n, s in services.items() if "cluster" in s.get("profiles", [])} == {
        "kafka-2",
        "kafka-3",
    }


def test_official_images_by_default_and_every_container_restarts() -> None:
    services = resolved_compose()["services"]
    assert services["postgres"]["image"] == "postgres:16-alpine"
    assert services["identity"]["build"]["args"]["PYTHON_IMAGE"] == "python:3.11-slim"
    for name in ("kafka", "postgres", "sink", *APP_SERVICES):
        assert services[name]["restart"] == "unless-stopped", name
        # A stop lets the process finish (podman's compatible API would give it 0 s).
        assert services[name].get("stop_grace_period"), name
    # Integrators on this host reach Kafka's TLS listener, on loopback only.
    for broker in ("kafka", "kafka-2", "kafka-3"):
        [published] = services[broker]["ports"]
        # (docker-compose 1.x prints "127.0.0.1:9094:9094", `docker compose` a mapping)
        host_ip = (
            published.get("host_ip") if isinstance(published, dict) else published.split(":")[0]
        )
        assert host_ip == "127.0.0.1", published


def test_kafka_is_one_pinned_version_everywhere() -> None:
    services = resolved_compose()["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert services["kafka-2"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in POM.read_text()


def test_every_command_the_compose_file_names_exists() -> None:
    services = resolved_compose()["services"]
    for name in APP_SERVICES:
        command = services[name]["command"]
        assert command[:2] == ["python", "-m"]
        assert importlib.util.find_spec(f"{command[2]}.__main__") is not None, command
    sink = services["sink"]["command"]
    assert sink[:3] == ["python", "-m", "deploy.demo.sink"]
    assert importlib.util.find_spec(sink[2]) is not None
    notification = services["notification"]["environment"]
    assert notification["NOTIFICATION_SMS_URL"] == "http://sink:8025/sms"
    for job in ("kafka-tls", "kafka-provision", "gateway"):
        command = services[job]["command"]
        assert command[:2] == ["python", "-m"], job
        assert importlib.util.find_spec(command[2]) is not None, command
    kafka = services["kafka"]
    assert kafka["entrypoint"] == ["/bin/bash", "/opt/shebao/kafka-run"]
    mounted = {v["source"] if isinstance(v, dict) else v.split(":")[0] for v in kafka["volumes"]}
    assert str(REPO / "deploy" / "images" / "kafka" / "run") in mounted


def test_compose_kafka_is_secured_on_every_listener() -> None:
    services = resolved_compose()["services"]
    env = services["kafka"]["environment"]
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols == {
        "CONTROLLER": "SASL_PLAINTEXT",
        "INTERNAL": "SASL_PLAINTEXT",
        "EXTERNAL": "SASL_SSL",
    }
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_SUPER_USERS"] == "User:admin"
    users = {k.removeprefix("SCRAM_USER_") for k in env if k.startswith("SCRAM_USER_")}
    assert users == set(KAFKA_USERS)
    for name in APP_SERVICES:
        service = services[name]["environment"]
        assert service["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert service["KAFKA_SASL_USERNAME"] == name
        assert service["KAFKA_SASL_PASSWORD"] == env[f"SCRAM_USER_{name.upper()}"]
    console = services["console"]["environment"]
    assert console["KAFKA_SASL_USERNAME"] == "operator"


def test_the_image_copies_what_exists() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


def _production_environment() -> dict[str, str]:
    """What an operator sets for production: a fresh value of every secret."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shared.contracts.facecheck import public_key_b64
    from shared.signing import public_b64

    def key() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    seed = os.urandom(32)
    return {
        "SHEBAO_ENV": "production",
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "SHEBAO_API_KEYS": json.dumps({"k" * 32: {"name": "hospital-1", "role": "hospital"}}),
        "SHEBAO_FACTS_KEYS": json.dumps({"f1": key()}),
        "SHEBAO_MESSAGE_KEYS": json.dumps({"m1": key()}),
        "SHEBAO_CITIZEN_TOKEN_KEYS": json.dumps({"t1": public_b64(seed)}),
        "IDENTITY_CITIZEN_TOKEN_SEEDS": json.dumps({"t1": base64.b64encode(seed).decode()}),
        "IDENTITY_HASH_KEY": secrets.token_urlsafe(40),
        "IDENTITY_MASTER_KEY": key(),
        "IDENTITY_FACE_PROVIDERS": json.dumps(
            {"certified-face": [public_key_b64(Ed25519PrivateKey.generate())]}
        ),
        "ACTIVATION_PAYMENT_CODE_KEYS": json.dumps({"p1": key()}),
        "NOTIFICATION_CONTACT_KEY": key(),
        **{f"KAFKA_{user}_PASSWORD": secrets.token_urlsafe(24) for user in KAFKA_USERS},
    }


def _settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    found: type[ServiceSettings] = getattr(module, f"{service.capitalize()}Settings")
    return found


def test_production_settings_reach_every_service_through_compose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Set as README says, compose passes each setting to the services that need it, and each
    # service starts in production; without any one of them, it refuses to.
    production = _production_environment()
    for name, value in production.items():
        monkeypatch.setenv(name, value)
    services = resolved_compose()["services"]
    readme = (REPO / "README.md").read_text()
    example = (REPO / "deploy" / "production.env.example").read_text()
    for service in APP_SERVICES:
        settings = _settings_class(service)
        raw = services[service]["environment"]
        env = dict(e.split("=", 1) for e in raw) if isinstance(raw, list) else dict(raw)
        with monkeypatch.context() as m:
            for name in production:
                m.delenv(name, raising=False)
            for name, value in env.items():
                m.setenv(name, str(value))
            assert settings().environment == "production", service
            for needed in settings.production_needs:
                assert needed in env, f"compose does not pass {needed} to {service}"
                shown = {
                    "DATABASE_URL": "POSTGRES_PASSWORD",
                    "KAFKA_SASL_PASSWORD": f"KAFKA_{service.upper()}_PASSWORD",
                }.get(needed, needed)
                assert f"`{shown}" in readme, f"README's production list lacks {shown}"
                assert f"\n{shown}=" in example, f"production.env.example lacks {shown}"
                if needed == "SHEBAO_ENV":
                    continue  # what turns production on
                m.delenv(needed)
                with pytest.raises(ValidationError):
                    settings()
                m.setenv(needed, str(env[needed]))


def _metric_names() -> set[str]:
    """Every series name the services register (their modules loaded as the services do)."""
    from prometheus_client import REGISTRY

    for service in APP_SERVICES:
        importlib.import_module(f"services.{service}.app")
    importlib.import_module("shared.http")
    suffixes = ("", "_total", "_bucket", "_count", "_sum")
    return {family.name + suffix for family in REGISTRY.collect() for suffix in suffixes}


def test_the_monitoring_profile_watches_series_that_exist() -> None:
    compose = [*compose_command(), "-f", str(REPO / "docker-compose.yml")]
    config = subprocess.run(
        [*compose, "--profile", "monitoring", "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert config.returncode == 0, config.stderr
    services = yaml.safe_load(config.stdout)["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["profiles"] == ["monitoring"], "monitoring is opt-in"
        for mount in services[name]["volumes"]:
            source = mount.get("source", "") if isinstance(mount, dict) else mount.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), source

    monitoring = REPO / "deploy" / "monitoring"
    rules = yaml.safe_load((monitoring / "alerts.yml").read_text())["groups"][0]["rules"]
    dashboard = json.loads((monitoring / "grafana" / "dashboards" / "shebao.json").read_text())
    queries = [r["expr"] for r in rules] + [
        t["expr"] for panel in dashboard["panels"] for t in panel["targets"]
    ]
    known = _metric_names()
    for query in queries:
        for name in re.findall(r"\bshebao_[a-z_]+", query):
            assert name in known, f"{name} in {query!r} is no series of ours"
    for rule in rules:
        assert rule["annotations"]["summary"], rule["alert"]
    alerts = {r["alert"] for r in rules}
    assert {"RelayStalled", "ConsumerLagGrowing", "DeadLetters", "GatewayFailures"} <= alerts
    scraped = yaml.safe_load((monitoring / "prometheus.yml").read_text())["scrape_configs"]
    targets = scraped[0]["static_configs"][0]["targets"]
    assert sorted(t.split(":")[0] for t in targets) == sorted(APP_SERVICES)
