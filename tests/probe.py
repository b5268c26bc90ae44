"""The public log as an integrator reads it, checked against the event stores: no event
twice, no gap or disorder in any stream, every stored event published."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

from shared.envelope import Envelope
from shared.kafka import Kafka, read_topic
from shared.topics import EVENTS_TOPIC


async def read_events(bootstrap: Kafka, topic: str) -> list[Envelope]:
    """Every event on ``topic`` from offset zero to its end now (records that are no
    envelope, put there by a test, are left out)."""
    events = []
    for record in await read_topic(bootstrap, topic):
        try:
            events.append(Envelope.from_bytes(record.value or b""))
        except ValueError:
            continue  # a poison record a test put there: no event of a service
    return events


async def check_public_log(
    bootstrap: Kafka, stored_events: Callable[[str], Awaitable[int]], timeout_s: float = 120
) -> dict[str, int]:
    """Each service's topic against its event store (waiting for the relays to catch up);
    events per topic."""
    counts: dict[str, int] = {}
    for service, topic in EVENTS_TOPIC.items():
        deadline = time.monotonic() + timeout_s
        while True:
            stored = await stored_events(service)
            published = await read_events(bootstrap, topic)
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
