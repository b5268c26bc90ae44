"""End to end on real service processes: journeys/s, the latency from a command accepted to
the citizen told (NotificationSent) at half that load, and each process's memory after a
history of events."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from bench.common import rss_mb
from bench.consumers import publish, service_feeds
from bench.workload import envelopes_for
from deploy.demo.citizens import fake_citizen
from deploy.demo.journeys import Journey, run_journey
from deploy.endpoints import Endpoints
from deploy.stack import ServiceProcess
from shared.envelope import Envelope
from shared.topics import EVENTS_TOPIC, NOTIFICATION_EVENTS

#: Events made and published at a time for the memory run.
HISTORY_SLICE = 50_000


@dataclass
class EndToEnd:
    """What the end-to-end run measured."""

    journeys_per_s: float
    completed: int
    latencies_ms: list[float]
    paced_per_s: float
    #: The part of each latency until the message was scheduled.
    scheduled_ms: list[float]


def endpoints(procs: dict[str, ServiceProcess]) -> Endpoints:
    """The base URLs of running processes."""
    return Endpoints(**{name: proc.url for name, proc in procs.items()})


async def _journeys(urls: Endpoints, count: int, concurrency: int, seed: int) -> list[Journey]:
    rng = random.Random(seed)  # noqa: S311 - made-up citizens
    citizens = [fake_citizen(rng) for _ in range(count)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    done: list[Journey] = []
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                done.append(await run_journey(client, urls, citizens[n]))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def _paced(urls: Endpoints, count: int, rate: float, seed: int) -> list[Journey]:
    """Open loop: a new journey every 1/rate s, whatever the others are doing."""
    rng = random.Random(seed)  # noqa: S311 - made-up citizens
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
        tasks = []
        for _ in range(count):
            tasks.append(asyncio.create_task(run_journey(client, urls, fake_citizen(rng))))
            await asyncio.sleep(1 / rate)
        return list(await asyncio.gather(*tasks))


async def _told_latencies(bootstrap: str, people: set[str]) -> tuple[list[float], list[float]]:
    """ms from each told-of event (its occurred_at, when the command was accepted) to its
    NotificationSent, and the part of it until the message was scheduled (relay, Kafka and
    the notification consumer; the rest is delivery)."""
    topics = [EVENTS_TOPIC["card"], EVENTS_TOPIC["activation"], NOTIFICATION_EVENTS]
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    about: dict[str, datetime] = {}
    scheduled: dict[str, datetime] = {}
    sent: list[tuple[str, str, datetime]] = []
    try:
        idle = 0
        while idle < 5:
            batches = await consumer.getmany(timeout_ms=300, max_records=5000)
            idle = 0 if batches else idle + 1
            for records in batches.values():
                for record in records:
                    envelope = Envelope.from_bytes(record.value or b"")
                    if envelope.person_id not in people:
                        continue
                    payload = envelope.payload
                    if envelope.event_type == "NotificationSent":
                        sent.append(
                            (
                                payload["about_event_id"],
                                payload["notification_id"],
                                envelope.occurred_at,
                            )
                        )
                    elif envelope.event_type == "NotificationScheduled":
                        scheduled[payload["notification_id"]] = envelope.occurred_at
                    else:
                        about[str(envelope.event_id)] = envelope.occurred_at
    finally:
        await consumer.stop()
    total = [(at - about[a]).total_seconds() * 1000 for a, _, at in sent if a in about]
    until_scheduled = [
        (scheduled[n] - about[a]).total_seconds() * 1000
        for a, n, _ in sent
        if a in about and n in scheduled
    ]
    return total, until_scheduled


async def end_to_end(
    procs: dict[str, ServiceProcess], bootstrap: str, journeys: int, concurrency: int
) -> EndToEnd:
    """journeys/s at ``concurrency``, then latencies at half that rate."""
    urls = endpoints(procs)
    await _journeys(urls, min(10, journeys), 2, seed=1)  # warm-up: connections, statements
    started = time.perf_counter()
    done = await _journeys(urls, journeys, concurrency, seed=2)
    rate = sum(j.completed for j in done) / (time.perf_counter() - started)
    paced = await _paced(urls, journeys, rate / 2, seed=3)
    people = {j.person_id for j in paced if j.completed and j.person_id}
    latencies, until_scheduled = await _told_latencies(bootstrap, people)
    return EndToEnd(rate, sum(j.completed for j in done), latencies, rate / 2, until_scheduled)


async def memory_after_history(
    procs: dict[str, ServiceProcess],
    bootstrap: str,
    database_url: str,
    history: int,
    first_citizen: int = 1_000_000,
) -> tuple[dict[str, float], dict[str, float], int]:
    """RSS (MB) of each service before and after it consumed ``history`` more events (made-up
    citizens' journeys on the real topics), once each has applied every event it handles."""
    services = [n for n in procs if n != "sink"]
    handles = {f.name: set(f.feed.handles) for f in service_feeds()}
    before = {n: rss_mb(_pid(procs[n])) for n in services}
    handled = {"IdentityVerified", "CardApplied", "CardProduced", "CardMailed", "CardActivated"}
    conn = await asyncpg.connect(database_url)
    try:
        applied = await _inbox_counts(conn, services)
        published = 0
        expected = dict.fromkeys(services, 0)
        # Made and published a slice at a time: a history of a million events never sits in
        # this process's memory at once. A slice of n events takes n / 5 citizens (five
        # events each) and the next slice starts n citizens on, so no two share a citizen.
        for start in range(0, history, HISTORY_SLICE):
            by_topic: dict[str, list[Envelope]] = {}
            size = min(HISTORY_SLICE, history - start)
            for e in envelopes_for(handled, size, first_citizen=first_citizen + start):
                by_topic.setdefault(EVENTS_TOPIC[e.producer], []).append(e)
                for name in services:
                    expected[name] += e.event_type in handles[name]
            for topic, batch in by_topic.items():
                await publish(bootstrap, topic, batch)
            published += size
        # Measured once every service has applied every event it handles.
        deadline = time.monotonic() + 7200
        while (counts := await _inbox_counts(conn, services)) and any(
            counts[n] - applied[n] < expected[n] for n in services
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"services did not catch up: {counts} of {expected}")
            await asyncio.sleep(2)
    finally:
        await conn.close()
    after = {n: rss_mb(_pid(procs[n])) for n in services}
    return before, after, published


async def _inbox_counts(conn: asyncpg.Connection, services: list[str]) -> dict[str, int]:
    return {
        name: await conn.fetchval(f"SELECT count(*) FROM {name}.inbox")  # noqa: S608
        for name in services
    }


def _pid(proc: ServiceProcess) -> int:
    assert proc.process is not None
    return proc.process.pid
