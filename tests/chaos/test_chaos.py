"""Chaos (``make chaos``): citizens go through the whole journey while every service, Kafka and
PostgreSQL are killed with SIGKILL in turn, and poison records arrive; the local stack's
supervisor brings each back. Then the invariants: every journey completed (clients retry with
their Idempotency-Key), no event id twice, every stream's versions contiguous, every stored
event published, every message delivered once, every poison record parked by each group that
reads it, and every service's state rebuilt from the log equal to the live one.

Its own Kafka and PostgreSQL (it kills them), on free loopback ports; bounded in time.

    CHAOS_JOURNEYS=120 make chaos
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from deploy.dead_letters import dead_letters
from deploy.demo.citizens import fake_citizen
from deploy.demo.journeys import Journey, run_journey
from deploy.demo.sink import SinkClient
from deploy.paths import free_port, shebao_home
from deploy.stack import SERVICES, Stack, services_on_free_ports, start_infrastructure
from deploy.supervisor import Supervisor
from shared.db import create_pool
from shared.rebuild import rebuild
from shared.topics import CARD_EVENTS, CONSUMED_TOPICS
from tests.e2e.harness import endpoints
from tests.probe import check_public_log

pytestmark = pytest.mark.chaos

JOURNEYS = int(os.environ.get("CHAOS_JOURNEYS", "60"))
CONCURRENCY = int(os.environ.get("CHAOS_CONCURRENCY", "6"))
#: Killed in this order, one at a time, each once it is back from the last.
VICTIMS = ("card", "kafka", "identity", "postgres", "activation", "notification")
TIME_LIMIT_S = 600


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Kafka, PostgreSQL, the sink and the four services of its own, supervised."""
    data = tmp_path_factory.mktemp("chaos")
    infra = start_infrastructure(
        shebao_home(),
        data,
        kafka_port=free_port(),
        controller_port=free_port(),
        pg_port=free_port(),
        use_environment=False,
    )
    try:
        with services_on_free_ports(infra, data / "logs") as procs:
            yield Stack(infra, dict(procs))
    finally:
        infra.stop()


class Chaos:
    """Kills one part at a time while the supervisor (in a thread) restarts it."""

    def __init__(self, stack: Stack, requests: Path) -> None:
        self.supervisor = Supervisor(stack, requests)
        self.stack = stack
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.downtime: dict[str, float] = {}

    def watch(self) -> None:
        while not self.stopped.is_set():
            with self.lock:
                self.supervisor.tick()
            time.sleep(0.2)

    def kill(self, name: str) -> float:
        """SIGKILL a part; seconds until it answers again."""
        part = self.supervisor.parts[name]
        with self.lock:
            pid, restarts = part.pid(), part.restarts
            assert pid is not None, name
            os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        while part.restarts == restarts or not self._answers(name):
            if time.monotonic() - started > 180:
                raise AssertionError(f"{name} did not come back")
            time.sleep(0.2)
        return time.monotonic() - started

    def _answers(self, name: str) -> bool:
        part = self.supervisor.parts[name]
        if name in self.stack.services:
            try:
                url = self.stack.services[name].url
                return part.running() and httpx.get(f"{url}/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        return part.running()


async def _poison(bootstrap: str, marker: str) -> list[bytes]:
    """Records no consumer can read, on card.events: their keys."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * 1024 * 1024)
    await producer.start()
    headers = [("event_type", b"CardMailed"), ("schema_version", b"1")]
    cases = {
        "bad-json": (b"{not json", headers),
        "wrong-version": (b"{}", [("event_type", b"CardMailed"), ("schema_version", b"99")]),
        "invalid-payload": (
            b'{"event_id": "x", "event_type": "CardMailed", "payload": {"card_id": 1}}',
            headers,
        ),
        "largest": (b"{" + b"x" * 1_000_000, headers),
    }
    keys = []
    try:
        for name, (value, record_headers) in cases.items():
            key = f"poison-{name}-{marker}".encode()
            await producer.send_and_wait(CARD_EVENTS, key=key, value=value, headers=record_headers)
            keys.append(key)
    finally:
        await producer.stop()
    return keys


async def _stored(database_url: str, service: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(f"SELECT count(*) FROM {service}.events")  # noqa: S608
    finally:
        await conn.close()
    return count


async def test_the_platform_keeps_its_promises_through_kills_of_every_part(
    stack: Stack, tmp_path: Path
) -> None:
    urls = endpoints(stack.services)
    chaos = Chaos(stack, tmp_path / "restart")
    watcher = threading.Thread(target=chaos.watch, daemon=True)
    watcher.start()
    rng = random.Random(9)
    citizens = [fake_citizen(rng) for _ in range(JOURNEYS)]
    queue = list(range(JOURNEYS))
    journeys: list[Journey] = []
    started = time.monotonic()
    marker = secrets.token_hex(4)
    try:
        async with httpx.AsyncClient(timeout=60) as client:

            async def worker() -> None:
                while queue and time.monotonic() - started < TIME_LIMIT_S:
                    citizen = citizens[queue.pop()]
                    journeys.append(await run_journey(client, urls, citizen, timeout_s=300))

            async def kills() -> None:
                for victim in VICTIMS:
                    await asyncio.sleep(3)
                    chaos.downtime[victim] = await asyncio.to_thread(chaos.kill, victim)

            poison = await _poison(stack.infra.bootstrap_servers, marker)
            await asyncio.gather(kills(), *(worker() for _ in range(CONCURRENCY)))
    finally:
        chaos.stopped.set()
        watcher.join()
    elapsed = time.monotonic() - started
    restarts = {n: p["restarts"] for n, p in chaos.supervisor.status().items()}
    print(
        f"\n{len(journeys)} journeys in {elapsed:.0f}s; seconds until each part answered"
        f" again: { {k: round(v, 1) for k, v in chaos.downtime.items()} }; restarts {restarts}"
    )

    assert len(journeys) == JOURNEYS, "the time limit ran out"
    assert [j.failure for j in journeys if j.failure] == []
    assert all(restarts[victim] >= 1 for victim in VICTIMS), restarts

    database, bootstrap = stack.infra.database_url, stack.infra.bootstrap_servers
    counts = await check_public_log(bootstrap, lambda service: _stored(database, service))
    print(f"events per topic {counts}")

    # Every citizen was told each thing once on each channel: application, mailing, activation.
    sink = SinkClient(stack.services["sink"].url)
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

    # Each poison record was parked by every group that reads card.events, once.
    readers = [g for g, topics in CONSUMED_TOPICS.items() if CARD_EVENTS in topics]
    for group in readers:
        letters = await dead_letters(bootstrap, group)
        parked = Counter(d.source for d in letters)
        assert len(letters) >= len(poison), (group, letters)
        assert all(n == 1 for n in parked.values()), (group, parked)

    # Every service's state, rebuilt from the log, equals the live state.
    for service in SERVICES:
        pool = await create_pool(database, service, min_size=1, max_size=2)
        try:
            projection = importlib.import_module(f"services.{service}.app").projection()
            report = await rebuild(pool, projection, bootstrap, dry_run=True)
        finally:
            await pool.close()
        assert report.matches, (service, report)
