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
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from deploy.dead_letters import dead_letters
from deploy.demo.citizens import fake_citizen
from deploy.paths import free_port, shebao_home
from deploy.stack import Stack, services_on_free_ports, start_infrastructure
from shared.topics import CARD_EVENTS, CONSUMED_TOPICS
from tests.e2e.harness import endpoints
from tests.probe import check_public_log
from tests.supervised import Turns, check_rebuilds, check_told_once, stored_events

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


async def test_the_platform_keeps_its_promises_through_kills_of_every_part(
    stack: Stack, tmp_path: Path
) -> None:
    urls = endpoints(stack.services)
    chaos = Turns(stack, tmp_path / "restart")
    rng = random.Random(9)
    citizens = [fake_citizen(rng) for _ in range(JOURNEYS)]
    poison = await _poison(stack.infra.bootstrap_servers, secrets.token_hex(4))

    async def kills() -> None:
        for victim in VICTIMS:
            await asyncio.sleep(3)
            await asyncio.to_thread(chaos.kill, victim)

    started = time.monotonic()
    journeys = await chaos.journeys_during(urls, citizens, CONCURRENCY, kills, TIME_LIMIT_S)
    elapsed = time.monotonic() - started
    restarts = {n: p["restarts"] for n, p in chaos.supervisor.status().items()}
    print(
        f"\n{len(journeys)} journeys in {elapsed:.0f}s; seconds until each part answered"
        f" again: { {k: round(v, 1) for k, v in chaos.took.items()} }; restarts {restarts}"
    )

    assert len(journeys) == JOURNEYS, "the time limit ran out"
    assert [j.failure for j in journeys if j.failure] == []
    assert all(restarts[victim] >= 1 for victim in VICTIMS), restarts

    database, bootstrap = stack.infra.database_url, stack.infra.bootstrap_servers
    counts = await check_public_log(bootstrap, lambda service: stored_events(database, service))
    print(f"events per topic {counts}")

    await check_told_once(stack.services["sink"].url, citizens, journeys)

    # Each poison record was parked by every group that reads card.events, once.
    readers = [g for g, topics in CONSUMED_TOPICS.items() if CARD_EVENTS in topics]
    for group in readers:
        letters = await dead_letters(bootstrap, group)
        parked = Counter(d.source for d in letters)
        assert len(letters) >= len(poison), (group, letters)
        assert all(n == 1 for n in parked.values()), (group, parked)

    await check_rebuilds(database, bootstrap)
