"""Scaling out on a secured three-broker cluster: journeys/s and events applied/s with 1, 2 and
4 processes of each service (behind their proxies, one consumer group per service), each as a
ratio to one process in the same run; and the rate one process applies, which bounds what one
partition can carry (a partition is read by one process of a group at a time)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.common import infrastructure
from bench.consumers import publish, service_feeds
from bench.journeys import _journeys
from bench.workload import envelopes_for
from deploy.endpoints import Endpoints
from deploy.kafka import CLUSTER_PARTITIONS
from deploy.kafka_security import ADMIN
from deploy.paths import free_port_base
from deploy.stack import REPLICA_PORT_STEP, SERVICES, Infrastructure, Stack
from shared.envelope import Envelope
from shared.topics import EVENTS_TOPIC

REPLICAS = (1, 2, 4)
#: What the made-up journeys carry, and which services apply each type.
HANDLED = ("IdentityVerified", "CardApplied", "CardProduced", "CardMailed", "CardActivated")


@dataclass
class Scaled:
    """What one replica count measured."""

    replicas: int
    journeys_per_s: float
    events_per_s: float
    applied: int


@contextlib.contextmanager
def _ports(replicas: int) -> Iterator[None]:
    """Free ports for each service, its replicas, the sink and the console (as variables)."""
    names = (*SERVICES, "sink", "sink_smtp", "console")
    saved = {n: os.environ.get(f"{n.upper()}_PORT") for n in names}
    for name in names:
        os.environ[f"{name.upper()}_PORT"] = str(free_port_base(REPLICA_PORT_STEP, replicas + 1))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(f"{name.upper()}_PORT", None)
            else:
                os.environ[f"{name.upper()}_PORT"] = value


async def _applied(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        total = 0
        for name in SERVICES:
            total += await conn.fetchval(f"SELECT count(*) FROM {name}.inbox")  # noqa: S608
        return total
    finally:
        await conn.close()


async def _events_applied_per_s(infra: Infrastructure, count: int, first_citizen: int) -> int:
    """Publish ``count`` made-up journey events (as the admin) and time until every service
    applied each it handles; events applied per second, over all services."""
    assert infra.kafka is not None
    assert infra.kafka.security is not None
    admin = infra.kafka.security.client_options(ADMIN, infra.bootstrap_servers)
    envelopes = envelopes_for(set(HANDLED), count, first_citizen=first_citizen)
    handles = [set(f.feed.handles) for f in service_feeds()]
    expected = sum(e.event_type in h for e in envelopes for h in handles)
    before = await _applied(infra.database_url)
    by_topic: dict[str, list[Envelope]] = {}
    for envelope in envelopes:
        by_topic.setdefault(EVENTS_TOPIC[envelope.producer], []).append(envelope)
    started = time.perf_counter()
    for topic, batch in by_topic.items():
        await publish(admin, topic, batch)
    deadline = time.monotonic() + 900
    while await _applied(infra.database_url) - before < expected:
        if time.monotonic() > deadline:
            raise TimeoutError("the services did not apply the history in time")
        await asyncio.sleep(0.2)
    return round(expected / (time.perf_counter() - started))


def run(journeys: int, concurrency: int, events: int) -> list[Scaled]:
    """Each replica count in turn on one cluster: journeys/s, then events applied/s."""
    results = []
    with (
        infrastructure(brokers=3) as infra,
        tempfile.TemporaryDirectory(prefix="shebao-bench-logs-") as logs,
    ):
        for n, replicas in enumerate(REPLICAS):
            with _ports(replicas):
                stack = Stack(infra)
                try:
                    stack.start_services(Path(logs) / str(replicas), replicas=replicas)
                    urls = Endpoints(
                        **{name: stack.services[name].url for name in (*SERVICES, "sink")}
                    )
                    asyncio.run(_journeys(urls, min(8, journeys), 2, seed=100 + n))  # warm-up
                    started = time.perf_counter()
                    done = asyncio.run(_journeys(urls, journeys, concurrency, seed=200 + n))
                    rate = sum(j.completed for j in done) / (time.perf_counter() - started)
                    applied = asyncio.run(
                        _events_applied_per_s(infra, events, first_citizen=3_000_000 * (n + 1))
                    )
                finally:
                    stack.stop_services()
            results.append(Scaled(replicas, rate, applied, sum(j.completed for j in done)))
    return results


def partitions_for(peak_events_per_s: float, per_partition: float, headroom: float) -> int:
    """Partitions a topic needs: its peak rate with headroom over what one partition carries
    (one process of a group reads it), and never fewer than the cluster's default."""
    needed = -(-peak_events_per_s * headroom // per_partition)
    return max(CLUSTER_PARTITIONS, int(needed))
