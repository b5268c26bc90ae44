"""Keep the local stack running as compose's restart policy does: a part that exits (a service,
the delivery sink, Kafka, PostgreSQL) is started again, after a pause that doubles while it
keeps failing; ``shebao restart NAME`` asks for a clean restart of one part."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from deploy.stack import Stack

log = structlog.get_logger(__name__)

#: The first pause before a restart, doubled after each failed start, up to the cap; a part
#: that has run this long is healthy again and its next crash restarts it at once.
FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0
HEALTHY_AFTER_S = 60.0


def _now() -> float:
    return time.monotonic()


@dataclass
class Part:
    """One supervised part: how to tell it runs, start it and stop it."""

    name: str
    running: Callable[[], bool]
    start: Callable[[], None]
    stop: Callable[[], None]
    pid: Callable[[], int | None]
    restarts: int = 0
    started_at: float = field(default_factory=lambda: _now())
    pause_s: float = 0.0
    down_since: float | None = None


def _postgres_pid(pgdata: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 0)
        return pid
    return None


def parts_of(stack: Stack) -> dict[str, Part]:
    """The supervised parts of a stack: infrastructure started here first, then services."""
    parts: dict[str, Part] = {}
    postgres = stack.infra.postgres
    if postgres is not None:
        pgdata = postgres.data_dir / "pgdata"
        parts["postgres"] = Part(
            "postgres",
            running=lambda: _postgres_pid(pgdata) is not None,
            start=postgres.start,
            stop=postgres.stop,
            pid=lambda: _postgres_pid(pgdata),
        )
    kafka = stack.infra.kafka
    for node in kafka.nodes if kafka is not None else []:
        parts[node.name] = Part(
            node.name,
            running=lambda n=node: n.process is not None and n.process.poll() is None,  # type: ignore[misc]
            start=node.start,
            stop=node.stop,
            pid=lambda n=node: n.process.pid if n.process else None,  # type: ignore[misc]
        )
    for name, proc in stack.services.items():
        parts[name] = Part(
            name,
            running=lambda p=proc: p.process is not None and p.process.poll() is None,  # type: ignore[misc]
            start=proc.start,
            stop=proc.stop,
            pid=lambda p=proc: p.process.pid if p.process else None,  # type: ignore[misc]
        )
    return parts


class Supervisor:
    """Watches the parts; :meth:`tick` restarts what exited and what an operator asked for."""

    def __init__(self, stack: Stack, requests: Path) -> None:
        self.parts = parts_of(stack)
        self.requests = requests
        requests.mkdir(parents=True, exist_ok=True)

    def tick(self) -> list[str]:
        """One look at every part; the names of those (re)started."""
        now = _now()
        started = []
        for part in self.parts.values():
            asked = self.requests / part.name
            if asked.exists():
                log.info("restart_requested", part=part.name)
                part.stop()
                if self._start(part, now):
                    started.append(part.name)
                asked.unlink(missing_ok=True)
            elif not part.running() and self._crashed(part, now):
                started.append(part.name)
        return started

    def _crashed(self, part: Part, now: float) -> bool:
        if part.down_since is None:
            part.down_since = now
            healthy = now - part.started_at >= HEALTHY_AFTER_S
            part.pause_s = (
                0.0 if healthy else min(max(part.pause_s * 2, FIRST_PAUSE_S), MAX_PAUSE_S)
            )
            log.warning("part_exited", part=part.name, restart_in_s=part.pause_s)
        if now - part.down_since < part.pause_s:
            return False
        return self._start(part, now)

    def _start(self, part: Part, now: float) -> bool:
        part.restarts += 1
        part.started_at = now
        part.down_since = None
        try:
            part.start()
        except Exception as exc:  # a failed start is retried after the pause
            log.warning("part_start_failed", part=part.name, error=type(exc).__name__)
            return False
        log.info("part_restarted", part=part.name, restarts=part.restarts)
        return True

    def status(self) -> dict[str, dict[str, int | None]]:
        """Each part's pid and how often it was restarted (for the state file)."""
        return {n: {"pid": p.pid(), "restarts": p.restarts} for n, p in self.parts.items()}
