"""The whole local stack: Kafka, PostgreSQL and the four services as child processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka.errors import KafkaError

from deploy.kafka import CLUSTER_PARTITIONS, KafkaCluster
from deploy.kafka_acl import ProvisionError, provision
from deploy.kafka_security import ADMIN, OPERATOR
from deploy.paths import REPO, env_port, free_port, port_open, stop_process
from deploy.postgres import PostgresNode
from shared.kafka import Kafka

SERVICES = ("identity", "card", "activation", "notification")
#: Replica n of a service listens on the service's port + REPLICA_PORT_STEP·n; the service's
#: port is then a proxy that passes each connection to the next replica.
REPLICA_PORT_STEP = 100
DEFAULT_PORTS = {"identity": 8001, "card": 8002, "activation": 8003, "notification": 8004}


def refusals(log: Path) -> str:
    """The settings a process refused to start with, as its log says (one line each)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    refused = [line.strip() for line in lines if line.strip().startswith("refused to start:")]
    return "".join(f"\n  {line}" for line in dict.fromkeys(refused))


class StackError(RuntimeError):
    """A part of the stack failed to start; the message says which and where its log is."""


@dataclass
class Infrastructure:
    """Kafka and PostgreSQL: started here, or given by the environment."""

    bootstrap_servers: str
    database_url: str
    kafka: KafkaCluster | None = None
    postgres: PostgresNode | None = None

    def kafka_as(self, user: str) -> Kafka:
        """How this process reaches Kafka as ``user``: the bootstrap list on a plaintext node,
        the user's client settings on a secured cluster."""
        if self.kafka is None or self.kafka.security is None:
            return self.bootstrap_servers
        return self.kafka.security.client_options(user, self.bootstrap_servers)

    def kafka_env(self, user: str) -> dict[str, str]:
        """What a process needs to reach a secured cluster as ``user`` and how it makes topics
        there; nothing on a plaintext node."""
        if self.kafka is None or self.kafka.security is None:
            return {}
        return {
            **self.kafka.security.client_environment(user),
            "SHEBAO_KAFKA_PARTITIONS": str(CLUSTER_PARTITIONS),
            "SHEBAO_KAFKA_REPLICATION_FACTOR": str(self.kafka.replication_factor),
        }

    def stop(self) -> None:
        """Stop what was started here (data is kept)."""
        if self.kafka:
            self.kafka.stop()
        if self.postgres:
            self.postgres.stop()


def start_infrastructure(
    home: Path,
    data_dir: Path,
    *,
    kafka_port: int,
    controller_port: int,
    pg_port: int,
    use_environment: bool = True,
    brokers: int = 1,
    external_port: int = 9094,
) -> Infrastructure:
    """Start Kafka unless KAFKA_BOOTSTRAP_SERVERS is set (one node, or a secured cluster of
    ``brokers`` with the platform's topics and ACLs provisioned), PostgreSQL unless
    DATABASE_URL is."""
    env_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") if use_environment else None
    env_db = os.environ.get("DATABASE_URL") if use_environment else None
    infra = Infrastructure(bootstrap_servers=env_kafka or "", database_url=env_db or "")
    try:
        if not env_db:
            infra.postgres = PostgresNode(data_dir / "postgres", pg_port)
            infra.postgres.start()
            infra.database_url = infra.postgres.url
        if not env_kafka:
            infra.kafka = KafkaCluster(
                home, data_dir / "kafka", brokers, kafka_port, controller_port, external_port
            )
            infra.kafka.start()
            infra.bootstrap_servers = infra.kafka.bootstrap_servers
            if infra.kafka.security is not None:
                _provision(infra)
    except BaseException:
        infra.stop()
        raise
    return infra


def _provision(infra: Infrastructure) -> None:
    """The cluster's topics and ACLs, as its admin; a StackError says what failed."""
    assert infra.kafka is not None
    assert infra.kafka.security is not None
    try:
        asyncio.run(
            provision(
                infra.kafka.security.client_options(ADMIN, infra.bootstrap_servers),
                partitions=CLUSTER_PARTITIONS,
                replication_factor=infra.kafka.replication_factor,
                wait_s=60,
            )
        )
    except (KafkaError, ProvisionError) as exc:
        raise StackError(f"the cluster's topics and ACLs could not be made: {exc}") from exc


@dataclass
class ServiceProcess:
    """One service run as ``python -m services.<name>``."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    #: What to run, when it is not ``python -m services.<name>`` (the local sink).
    command: list[str] | None = None

    @property
    def url(self) -> str:
        """Base URL of its API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process, its output appended to its log file."""
        if port_open(self.port):
            raise StackError(
                f"port {self.port} for {self.name} is taken: set {self.name.upper()}_PORT"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command or [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Wait until /ready answers 200; StackError if the process dies or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                said = refusals(self.log_path)
                raise StackError(f"{self.name} exited; see {self.log_path}{said}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise StackError(f"{self.name} not ready after {timeout_s}s; see {self.log_path}")

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM (uvicorn shuts the lifespan down cleanly), SIGKILL if it hangs."""
        stop_process(self.process, timeout_s)

    def kill(self) -> None:
        """Kill at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def service_process(
    name: str,
    infra: Infrastructure,
    log_dir: Path,
    *,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    replica: int | None = None,
) -> ServiceProcess:
    """A service process wired to the infrastructure (not started): the service, or its
    replica number ``replica`` (named ``<service>-<n>``) on the service's port + 100·n."""
    port = port or env_port(f"{name.upper()}_PORT", DEFAULT_PORTS[name])
    if replica is not None:
        port += REPLICA_PORT_STEP * replica
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "DATABASE_URL": infra.database_url,
        f"{name.upper()}_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **infra.kafka_env(name),
        **(extra_env or {}),
    }
    if replica is None:
        return ServiceProcess(name, port, env, log_dir / f"{name}.log")
    command = [sys.executable, "-m", f"services.{name}"]
    label = f"{name}-{replica}"
    return ServiceProcess(label, port, env, log_dir / f"{label}.log", command=command)


def proxy_process(
    name: str, port: int, replicas: list[ServiceProcess], log_dir: Path
) -> ServiceProcess:
    """The service's own port in front of its replicas (not started)."""
    targets = ",".join(f"127.0.0.1:{replica.port}" for replica in replicas)
    command = [sys.executable, "-m", "deploy.proxy", "--route", f"{port}={targets}"]
    command += ["--health-path", "/ready"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return ServiceProcess(name, port, env, log_dir / f"{name}-proxy.log", command=command)


def console_process(
    infra: Infrastructure, log_dir: Path, ports: dict[str, int], port: int | None = None
) -> ServiceProcess:
    """The operator console (not started), reading the services on ``ports``."""
    port = port or env_port("CONSOLE_PORT", 8030)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "DATABASE_URL": infra.database_url,
        **{f"{name.upper()}_PORT": str(p) for name, p in ports.items()},
        "PYTHONUNBUFFERED": "1",
        **infra.kafka_env(OPERATOR),
    }
    command = [sys.executable, "-m", "deploy.console", "--port", str(port)]
    return ServiceProcess("console", port, env, log_dir / "console.log", command=command)


def sink_process(
    log_dir: Path, *, port: int | None = None, smtp_port: int | None = None
) -> tuple[ServiceProcess, dict[str, str]]:
    """The local SMS/push/email sink (not started), and the notification service's settings
    that deliver to it."""
    port = port or env_port("SINK_PORT", 8025)
    smtp_port = smtp_port or env_port("SINK_SMTP_PORT", 2525)
    command = [sys.executable, "-m", "deploy.demo.sink", "--port", str(port)]
    command += ["--smtp-port", str(smtp_port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sink = ServiceProcess("sink", port, env, log_dir / "sink.log", command=command)
    notification_env = {
        "NOTIFICATION_SMS_URL": f"{sink.url}/sms",
        "NOTIFICATION_PUSH_URL": f"{sink.url}/push",
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(smtp_port),
    }
    return sink, notification_env


@dataclass
class Stack:
    """Infrastructure plus the four services, started and stopped in order."""

    infra: Infrastructure
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def start_services(self, log_dir: Path, timeout_s: float = 90, replicas: int = 1) -> None:
        """Start the local sink unless NOTIFICATION_SMS_URL points at a real gateway, then
        every service (``replicas`` processes of each behind a proxy on its port, when more
        than one), then wait until each is ready."""
        notification_env: dict[str, str] = {}
        if not os.environ.get("NOTIFICATION_SMS_URL"):
            sink, notification_env = sink_process(log_dir)
            self.services["sink"] = sink
            sink.start()
        for name in SERVICES:
            extra = notification_env if name == "notification" else None
            if replicas == 1:
                self.services[name] = service_process(name, self.infra, log_dir, extra_env=extra)
                continue
            group = [
                service_process(name, self.infra, log_dir, extra_env=extra, replica=n)
                for n in range(1, replicas + 1)
            ]
            port = env_port(f"{name.upper()}_PORT", DEFAULT_PORTS[name])
            self.services |= {proc.name: proc for proc in group}
            self.services[name] = proxy_process(name, port, group, log_dir)
        for proc in self.services.values():
            if proc.process is None:
                proc.start()
        for proc in self.services.values():
            proc.wait_ready(timeout_s)
        ports = {n: self.services[n].port for n in ("sink", *SERVICES) if n in self.services}
        console = console_process(self.infra, log_dir, ports)
        self.services["console"] = console
        console.start()
        console.wait_ready(timeout_s)

    @property
    def replicas(self) -> dict[str, str]:
        """Each replica's own address (empty with one process per service)."""
        return {n: p.url for n, p in self.services.items() if n.rpartition("-")[2].isdigit()}

    def stop_services(self) -> None:
        """Stop the services (the infrastructure runs on)."""
        for proc in reversed(list(self.services.values())):
            proc.stop()
        self.services.clear()

    def stop(self) -> None:
        """Stop the services, then the infrastructure."""
        self.stop_services()
        self.infra.stop()


@contextlib.contextmanager
def services_on_free_ports(
    infra: Infrastructure, log_dir: Path, env: dict[str, dict[str, str]] | None = None
) -> Iterator[dict[str, ServiceProcess]]:
    """The four services and the local delivery sink as real processes on free ports, ready;
    stopped afterwards (tests and benchmarks)."""
    sink, sink_env = sink_process(log_dir, port=free_port(), smtp_port=free_port())
    extra = {name: dict((env or {}).get(name, {})) for name in SERVICES}
    extra["notification"] = {**sink_env, **extra["notification"]}
    procs = {"sink": sink} | {
        name: service_process(name, infra, log_dir, port=free_port(), extra_env=extra[name])
        for name in SERVICES
    }
    try:
        for proc in procs.values():
            proc.start()
        for proc in procs.values():
            proc.wait_ready(90)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()
