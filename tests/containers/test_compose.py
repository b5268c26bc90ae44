"""The operators' docker-compose.yml, run for real on a container engine: every healthcheck
passes, the demo runs through the published ports, and when a service container and the
Kafka container crash, the restart policy brings them back with nothing lost.

Run by `make compose-test` (deploy/engine.sh provides the engine and the images). The probe
reads the public log as an integrator would, from Kafka's published listener, and compares it
with each service's event store."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from deploy.demo.journeys import run_demo
from deploy.endpoints import Endpoints
from deploy.paths import REPO, free_port
from shared.kafka import KafkaSecurity
from tests.probe import check_public_log
from tests.test_deploy import APP_SERVICES, compose_command

pytestmark = pytest.mark.containers

#: Compose's development Kafka passwords that are not shebao-dev-kafka-<user>.
DEV_KAFKA_PASSWORDS = {"integrator-demo": "shebao-dev-kafka-integrator"}

PORTS = (
    "IDENTITY_PORT",
    "CARD_PORT",
    "ACTIVATION_PORT",
    "NOTIFICATION_PORT",
    "SINK_PORT",
    "CONSOLE_PORT",
)


@dataclass
class Deployment:
    """A compose project running on the engine, with its published ports."""

    project: str
    env: dict[str, str]
    engine: docker.DockerClient

    def exited_logs(self) -> str:
        """The last lines of each of the project's containers that exited with an error."""
        said = []
        label = f"com.docker.compose.project={self.project}"
        for container in self.engine.containers.list(all=True, filters={"label": label}):
            if container.attrs["State"].get("ExitCode"):
                tail = container.logs(tail=15).decode(errors="replace")
                said.append(f"\n--- {container.name} exited:\n{tail}")
        return "".join(said)

    def port(self, name: str) -> int:
        return int(self.env[name])

    @property
    def endpoints(self) -> Endpoints:
        def url(name: str) -> str:
            return f"http://127.0.0.1:{self.port(name)}"

        return Endpoints(
            url("IDENTITY_PORT"),
            url("CARD_PORT"),
            url("ACTIVATION_PORT"),
            url("NOTIFICATION_PORT"),
            url("SINK_PORT"),
        )

    def kafka(self, user: str = "operator", password: str | None = None) -> dict[str, Any]:
        """A client of Kafka's TLS listener on this host, as ``user`` (development passwords),
        trusting the CA the kafka-tls job printed."""
        logs = self.containers("kafka-tls")[0].logs().decode()
        ca = logs[logs.index("-----BEGIN CERTIFICATE-----") :]
        security = KafkaSecurity(
            protocol="SASL_SSL",
            username=user,
            password=password or DEV_KAFKA_PASSWORDS.get(user, f"shebao-dev-kafka-{user}"),
        ).options()
        security["ssl_context"] = ssl.create_default_context(cadata=ca)
        return {"bootstrap_servers": f"localhost:{self.port('KAFKA_EXTERNAL_PORT')}", **security}

    def compose(self, *args: str, timeout_s: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*compose_command(), "-p", self.project, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def containers(self, service: str) -> list[Any]:
        """The service's containers (more than one when scaled)."""
        found: list[Any] = self.engine.containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.project}",
                    f"com.docker.compose.service={service}",
                ]
            },
        )
        return found

    def container(self, service: str) -> Any:
        [found] = self.containers(service)
        return found

    def wait_healthy(self, services: tuple[str, ...], timeout_s: float = 300) -> None:
        """Until every container of each of ``services`` runs and its healthcheck passes."""
        deadline = time.monotonic() + timeout_s
        pending = list(services)
        while pending and time.monotonic() < deadline:
            pending = [
                s
                for s in pending
                if not self.containers(s)
                or any(_health(c) != "healthy" for c in self.containers(s))
            ]
            time.sleep(1)
        assert not pending, f"not healthy after {timeout_s}s: {pending}"

    def crash(self, service: str) -> int:
        """SIGKILL the container's main process from the host, as a crash would; the
        container's restart count before."""
        found = self.container(service)
        restarts = int(found.attrs.get("RestartCount", 0))
        os.kill(int(found.attrs["State"]["Pid"]), signal.SIGKILL)
        return restarts

    def wait_restarted(self, service: str, restarts_before: int, timeout_s: float = 120) -> None:
        """Until the restart policy has brought the container back, healthy."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.container(service)
            if int(found.attrs.get("RestartCount", 0)) > restarts_before:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"{service} was not restarted within {timeout_s}s")
        self.wait_healthy((service,), timeout_s)

    def stored_events(self, service: str) -> int:
        """How many events the service's event store holds."""
        assert service in APP_SERVICES, service
        query = f"SELECT count(*) FROM {service}.events"  # noqa: S608 - a known schema name
        psql = ["psql", "-U", "shebao", "-d", "shebao", "-tAc", query]
        result = self.container("postgres").exec_run(psql)
        assert result.exit_code == 0, result.output
        return int(result.output.decode().strip())


def _health(container: Any) -> str:
    container.reload()
    state = container.attrs["State"]
    if state.get("Status") != "running":
        return str(state.get("Status"))
    return str((state.get("Health") or state.get("Healthcheck") or {}).get("Status"))


def deploy(
    tmp_path_factory: pytest.TempPathFactory,
    settings: dict[str, str] | None = None,
    up: tuple[str, ...] = (),
    brokers: tuple[str, ...] = ("kafka",),
) -> Iterator[Deployment]:
    """A compose project on the engine, on free ports, with ``settings`` and ``up`` options;
    taken down (volumes too) afterwards, its logs kept."""
    if not os.environ.get("DOCKER_HOST"):
        pytest.fail(
            "the compose test needs a container engine: run `make compose-test`, which sets one "
            "up with deploy/engine.sh and points DOCKER_HOST at it"
        )
    engine = docker.from_env(timeout=60)
    engine.ping()
    external = ("KAFKA_EXTERNAL_PORT", "KAFKA_2_EXTERNAL_PORT", "KAFKA_3_EXTERNAL_PORT")
    ports = {name: str(free_port()) for name in (*PORTS, *external)}
    project = f"shebao-ct-{secrets.token_hex(3)}"
    deployed = Deployment(project, {**os.environ, **ports, **(settings or {})}, engine)
    logs = tmp_path_factory.mktemp("compose") / "compose.log"
    try:
        started = deployed.compose("up", "-d", *up)
        assert started.returncode == 0, started.stderr[-3000:] + deployed.exited_logs()
        parts = ("postgres", "gateway", "sink", "console", *APP_SERVICES)
        deployed.wait_healthy((*brokers, *parts))
        yield deployed
    finally:
        _keep_logs(deployed, logs)
        deployed.compose("down", "-v", "--timeout", "10", timeout_s=300)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from deploy(tmp_path_factory)


def _keep_logs(deployed: Deployment, path: Path) -> None:
    result = deployed.compose("logs", "--no-color", timeout_s=120)
    path.write_text(result.stdout + result.stderr)


async def test_compose_runs_the_journey_and_survives_crashes(deployment: Deployment) -> None:
    first = await run_demo(deployment.endpoints, 10, seed=1)
    assert [j.failure for j in first if not j.completed] == []

    # Crashes while citizens are on their way: the card service, then the broker.
    during = asyncio.create_task(run_demo(deployment.endpoints, 20, concurrency=4, seed=2))
    await asyncio.sleep(1)
    for service in ("card", "kafka"):
        before = deployment.crash(service)
        await asyncio.to_thread(deployment.wait_restarted, service, before)
    # Journeys cut by a crash may fail; nothing they got accepted may be lost.
    cut = [j.failure for j in await during if not j.completed]

    after = await run_demo(deployment.endpoints, 10, seed=3)
    assert [j.failure for j in after if not j.completed] == []
    counts = await check_public_log(
        deployment.kafka(), lambda service: asyncio.to_thread(deployment.stored_events, service)
    )
    assert all(counts.values()), counts
    print(f"events per topic {counts}; journeys cut by the crashes: {len(cut)} of 20 {cut}")


def test_the_console_in_compose_sees_every_part(deployment: Deployment) -> None:
    console = f"http://127.0.0.1:{deployment.port('CONSOLE_PORT')}"
    with httpx.Client(base_url=console, timeout=30) as browser:
        assert browser.get("/").headers.get("location") == "/login"  # signed out: nothing
        signed = browser.post("/login", data={"key": "dev-operator"}, headers={"Origin": console})
        assert signed.status_code == 303, signed.text
        page = browser.get("/")
        parked = browser.get("/dead-letters")
    assert parked.status_code == 200, parked.text
    assert page.status_code == 200, page.text
    # Kafka, PostgreSQL and the four services, each reached inside the compose network.
    for part in ("kafka:9092", "postgres:5432", *(f"http://{s}:" for s in APP_SERVICES)):
        assert part in page.text, part
    assert page.text.count(">ready<") == len(APP_SERVICES), page.text
    assert ">down<" not in page.text
