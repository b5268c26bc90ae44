"""Parts of a stack killed and restarted under load, through the stack's own supervisor (in a
thread), as `shebao up` keeps them: a killed part comes back by itself, a restart is asked for
by request file, as `shebao restart` does."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

from deploy.demo.citizens import Citizen
from deploy.demo.journeys import Journey, run_journey
from deploy.demo.sink import SinkClient
from deploy.endpoints import Endpoints
from deploy.paths import port_open
from deploy.stack import SERVICES, Stack
from deploy.supervisor import Supervisor
from shared.db import create_pool
from shared.kafka import Kafka
from shared.rebuild import rebuild


class Turns:
    """Kills or restarts one part at a time; ``took`` says how long each took to answer."""

    def __init__(self, stack: Stack, requests: Path) -> None:
        self.stack = stack
        self.requests = requests
        self.supervisor = Supervisor(stack, requests)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.took: dict[str, float] = {}

    def watch(self) -> None:
        """Supervise until stopped (run it in a thread)."""
        while not self.stopped.is_set():
            with self.lock:
                self.supervisor.tick()
            time.sleep(0.2)

    async def journeys_during(
        self,
        urls: Endpoints,
        citizens: list[Citizen],
        concurrency: int,
        disturbance: Callable[[], Awaitable[None]],
        time_limit_s: float,
    ) -> list[Journey]:
        """Each citizen's whole journey, ``concurrency`` at a time, while ``disturbance`` runs
        and the supervisor watches (clients retry with their Idempotency-Key)."""
        watcher = threading.Thread(target=self.watch, daemon=True)
        watcher.start()
        queue = list(range(len(citizens)))
        journeys: list[Journey] = []
        started = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=60) as client:

                async def worker() -> None:
                    while queue and time.monotonic() - started < time_limit_s:
                        citizen = citizens[queue.pop()]
                        journeys.append(await run_journey(client, urls, citizen, timeout_s=300))

                await asyncio.gather(disturbance(), *(worker() for _ in range(concurrency)))
        finally:
            self.stopped.set()
            watcher.join()
        return journeys

    def kill(self, name: str) -> float:
        """SIGKILL a part; seconds until it answers again."""
        part = self.supervisor.parts[name]
        with self.lock:
            pid, restarts = part.pid(), part.restarts
            assert pid is not None, name
            os.kill(pid, signal.SIGKILL)
        return self._until_back(name, restarts)

    def restart(self, name: str) -> float:
        """Ask for a clean restart; seconds until it answers again."""
        restarts = self.supervisor.parts[name].restarts
        (self.requests / name).touch()
        return self._until_back(name, restarts)

    def _until_back(self, name: str, restarts: int) -> float:
        part = self.supervisor.parts[name]
        started = time.monotonic()
        while part.restarts == restarts or not self._answers(name):
            if time.monotonic() - started > 180:
                raise AssertionError(f"{name} did not come back")
            time.sleep(0.2)
        self.took[name] = round(time.monotonic() - started, 1)
        return self.took[name]

    def _answers(self, name: str) -> bool:
        if not self.supervisor.parts[name].running():
            return False
        kafka = self.stack.infra.kafka
        nodes = {node.name: node for node in kafka.nodes} if kafka is not None else {}
        if name in nodes:
            return port_open(nodes[name].port)  # a broker that serves clients again
        if name not in self.stack.services:
            return True  # PostgreSQL: its process runs
        try:
            url = self.stack.services[name].url
            return httpx.get(f"{url}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


async def stored_events(database_url: str, service: str) -> int:
    """How many events a service's event store holds."""
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(f"SELECT count(*) FROM {service}.events")  # noqa: S608
    finally:
        await conn.close()
    return count


async def check_told_once(sink_url: str, citizens: list[Citizen], journeys: list[Journey]) -> None:
    """Every citizen was told each thing once on each channel (application, mailing,
    activation: three SMS and three pushes), and the sink saw no message twice."""
    sink = SinkClient(sink_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sms = Counter(m["to"] for m in sink.messages("sms"))
        if all(sms[c.phone] >= 3 for c in citizens):
            break
        await asyncio.sleep(1)
    push = Counter(m["to"] for m in sink.messages("push"))
    assert {c.phone: sms[c.phone] for c in citizens if sms[c.phone] != 3} == {}
    assert {j.person_id: push[j.person_id] for j in journeys if push[j.person_id] != 3} == {}
    assert sink.stats()["duplicates"] == {"sms": 0, "push": 0, "email": 0}


async def check_rebuilds(database_url: str, kafka: Kafka) -> None:
    """Every service's state, rebuilt from the log, equals the live state."""
    for service in SERVICES:
        pool = await create_pool(database_url, service, min_size=1, max_size=2)
        try:
            projection = importlib.import_module(f"services.{service}.app").projection()
            report = await rebuild(pool, projection, kafka, dry_run=True)
        finally:
            await pool.close()
        assert report.matches, (service, report)
