"""The public log as an integrator reads it, checked against the event stores: no event
twice, no gap or disorder in any stream, every stored event published."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.envelope import Envelope
from shared.topics import EVENTS_TOPIC


async def read_topic(bootstrap: str, topic: str) -> list[Envelope]:
    """Every event on ``topic`` from offset zero to its end now (records that are no
    envelope, put there by a test, are left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        envelopes: list[Envelope] = []
        behind = set(partitions)
        while behind:
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for rs in batches.values() for r in rs):
                try:
                    envelopes.append(Envelope.from_bytes(record.value or b""))
                except ValueError:
                    continue  # a poison record a test put there: no event of a service
            behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
        return envelopes
    finally:
        await consumer.stop()


async def check_public_log(
    bootstrap: str, stored_events: Callable[[str], Awaitable[int]], timeout_s: float = 120
) -> dict[str, int]:
    """Each service's topic against its event store (waiting for the relays to catch up);
    events per topic."""
    counts: dict[str, int] = {}
    for service, topic in EVENTS_TOPIC.items():
        deadline = time.monotonic() + timeout_s
        while True:
            stored = await stored_events(service)
            published = await read_topic(bootstrap, topic)
            if len(published) >= stored or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        twice = [e for e, n in Counter(str(p.event_id) for p in published).items() if n > 1]
        assert not twice, f"{topic} carries {len(twice)} events twice"
        versions: dict[str, list[int]] = defaultdict(list)
        for envelope in published:
            versions[envelope.stream_id].append(envelope.stream_version)
        gaps = {s: v for s, v in versions.items() if v != list(range(1, len(v) + 1))}
        assert not gaps, f"{topic}: streams out of order or with gaps: {gaps}"
        assert len(published) == stored, f"{service}: {stored} stored, {len(published)} published"
        counts[service] = stored
    return counts
