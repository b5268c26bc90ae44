"""What the ``shebao`` commands share: the running stack's state file, where things are."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.console import Console

from deploy.endpoints import Endpoints
from deploy.paths import env_port, shebao_home
from deploy.stack import DEFAULT_PORTS

console = Console(soft_wrap=True)
#: Where faults are said: stderr, so that the data a command prints (``--json``) stays clean.
errors = Console(soft_wrap=True, stderr=True)


class ServiceName(StrEnum):
    """A service, as the command line takes it (the parser refuses any other)."""

    identity = "identity"
    card = "card"
    activation = "activation"
    notification = "notification"


def run_dir() -> Path:
    """Where the stack keeps its state file and logs."""
    run = shebao_home() / "run"
    run.mkdir(parents=True, exist_ok=True)
    return run


def state_file() -> Path:
    """The running stack's state (pid, addresses)."""
    return run_dir() / "stack.json"


def restart_requests() -> Path:
    """Where ``shebao restart`` leaves a request for the supervisor (a file per part)."""
    return run_dir() / "restart"


def read_state() -> dict[str, Any] | None:
    """The running stack's state, or None when none runs (nor could: a container, say, where
    the home folder cannot even be made)."""
    try:
        path = state_file()
    except OSError:
        return None
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    if not alive(int(state.get("pid", 0))):
        path.unlink(missing_ok=True)
        return None
    return state


def alive(pid: int) -> bool:
    """Whether a process runs."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def endpoints() -> Endpoints:
    """The services' base URLs: ``SHEBAO_<SERVICE>_URL`` where set (a deployment elsewhere,
    the console in compose), else the running local stack's, else the configured defaults."""
    state = read_state()
    urls = (
        state["services"]
        if state
        else {
            name: f"http://127.0.0.1:{env_port(f'{name.upper()}_PORT', port)}"
            for name, port in DEFAULT_PORTS.items()
        }
    )
    for name in DEFAULT_PORTS:
        given = os.environ.get(f"SHEBAO_{name.upper()}_URL")
        if given:
            urls[name] = given.rstrip("/")
    return Endpoints(**urls)


def infrastructure_urls() -> tuple[str, str]:
    """The database URL and Kafka bootstrap of the environment, the running stack, or defaults."""
    state = read_state() or {}
    database_url = (
        os.environ.get("DATABASE_URL")
        or state.get("database")
        or f"postgresql://postgres@127.0.0.1:{env_port('SHEBAO_PG_PORT', 55432)}/postgres"
    )
    bootstrap = (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        or state.get("kafka")
        or f"127.0.0.1:{env_port('KAFKA_PORT', 9092)}"
    )
    if state.get("kafka_security") and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        _connect_as_operator(Path(state["kafka_security"]))
    return database_url, bootstrap


def _connect_as_operator(security_dir: Path) -> None:
    """The local secured cluster: this command connects as its operator user (unless the
    environment names a user of its own)."""
    if os.environ.get("KAFKA_SASL_USERNAME"):
        return
    from deploy.kafka_security import OPERATOR, ClusterSecurity
    from shared.kafka import kafka_security

    os.environ.update(ClusterSecurity.load_or_create(security_dir).client_environment(OPERATOR))
    kafka_security.cache_clear()
