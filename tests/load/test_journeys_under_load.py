"""Load test for users (``make load``): many citizens through the whole journey at once, on
Kafka and PostgreSQL from the environment, testcontainers when a Docker engine answers, or the
local stack. Bounded in count and time, loopback only.

    LOAD_JOURNEYS=500 LOAD_CONCURRENCY=32 make load
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.demo.citizens import fake_citizen
from deploy.demo.journeys import Journey, run_journey
from deploy.demo.sink import SinkClient
from deploy.stack import Infrastructure, ServiceProcess, services_on_free_ports
from tests.e2e.harness import endpoints

pytestmark = pytest.mark.load

JOURNEYS = int(os.environ.get("LOAD_JOURNEYS", "200"))
CONCURRENCY = int(os.environ.get("LOAD_CONCURRENCY", "16"))
TIME_LIMIT_S = float(os.environ.get("LOAD_TIME_LIMIT_S", "600"))


@pytest.fixture(scope="module")
def services(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    with services_on_free_ports(infra, Path(tmp_path_factory.mktemp("load-logs"))) as procs:
        yield procs


async def test_every_citizen_completes_and_is_told_each_thing_once(
    services: dict[str, ServiceProcess],
) -> None:
    urls = endpoints(services)
    rng = random.Random(2026)
    citizens = [fake_citizen(rng) for _ in range(JOURNEYS)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(JOURNEYS):
        queue.put_nowait(n)
    journeys: list[Journey] = []
    started = time.monotonic()
    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty() and time.monotonic() - started < TIME_LIMIT_S:
                n = queue.get_nowait()
                journeys.append(await run_journey(client, urls, citizens[n], timeout_s=300))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.monotonic() - started
    print(f"\n{len(journeys)} journeys in {elapsed:.1f}s: {len(journeys) / elapsed:.1f}/s")

    assert len(journeys) == JOURNEYS, "the time limit ran out"
    assert [j.failure for j in journeys if j.failure] == []
    # Every citizen got each message exactly once on each channel they chose.
    sink = SinkClient(services["sink"].url)
    sms = Counter(m["to"] for m in sink.messages("sms"))
    push = Counter(m["to"] for m in sink.messages("push"))
    assert all(sms[c.phone] == 3 for c in citizens), "application, mailing, activation by SMS"
    assert all(push[j.person_id] == 3 for j in journeys)
    assert sink.stats()["duplicates"] == {"sms": 0, "push": 0, "email": 0}
