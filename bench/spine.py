"""The event spine under load: command appends and the outbox relay, each beside the raw
asyncpg / aiokafka doing the same work in the same run (consumers: bench.consumers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer

from bench.common import fresh_schema
from bench.workload import CAUSE
from shared.aggregate import run
from shared.contracts import EventPayload
from shared.contracts.card import CardMailed, CardProduced
from shared.db import create_pool
from shared.decider import Decider
from shared.envelope import Envelope, record_headers
from shared.eventstore import EventStore
from shared.groupcommit import CommitGroup
from shared.kafka import ensure_topics, idempotent_producer
from shared.relay import OutboxRelay

#: A stream that takes whatever the command brings: the event store's own cost, measured.
APPEND_ALL: Decider[int, list[EventPayload]] = Decider(
    "bench", 0, lambda state, _: state + 1, lambda _, payloads: payloads
)


def command_payloads(i: int) -> list[EventPayload]:
    """Command i's events: 1 to 3 of them."""
    events: list[EventPayload] = [
        CardMailed(card_id=f"c{i}", courier="EMS", tracking_number=f"EMS{i:010d}")
    ]
    for k in range(i % 3):
        events.append(
            CardProduced(card_id=f"c{i}", card_number=f"S{i:09d}{k}", chip_serial="AB", agency="a")
        )
    return events


async def _run_workers(
    commands: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> float:
    """commands/s with ``concurrency`` workers; command i's stream belongs to one worker."""

    async def worker(w: int) -> None:
        for i in range(w, commands, concurrency):
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return commands / (time.perf_counter() - started)


def stream_of(i: int, concurrency: int) -> str:
    """Three consecutive commands of a worker share a stream (the version check matters)."""
    return f"card-{i % concurrency}-{i // (3 * concurrency)}"


async def appends(database_url: str, commands: int, concurrency: int) -> tuple[float, float, float]:
    """(ours, grouped, raw) commands/s: load the stream, decide, append events + outbox with
    the expected-version check; ours one transaction per command, grouped through the
    services' command path (``shared.groupcommit``: concurrent commands share one)."""
    store = EventStore("card")
    ours = await fresh_schema(database_url, "bench_appends", size=concurrency + 2)
    grouped = await fresh_schema(database_url, "bench_grouped", size=concurrency + 2)
    raw = await fresh_schema(database_url, "bench_raw_appends", size=concurrency + 2)
    group = CommitGroup(grouped, store)
    try:

        async def our_command(i: int) -> None:
            payloads = command_payloads(i)
            async with ours.acquire() as conn, conn.transaction():
                stream = APPEND_ALL.in_stream(stream_of(i, concurrency), person=f"p{i}")
                await run(conn, store, stream, payloads, CAUSE)

        # The baseline gets its rows ready-made: only the database work is timed.
        prepared: dict[int, list[Envelope]] = {
            i: store.envelopes(stream_of(i, concurrency), 0, f"p{i}", command_payloads(i), CAUSE)
            for i in range(commands)
        }

        async def raw_command(i: int) -> None:
            envelopes = prepared[i]
            async with raw.acquire() as conn, conn.transaction():
                version = await conn.fetchval(
                    "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1",
                    envelopes[0].stream_id,
                )
                await conn.executemany(
                    "INSERT INTO events (stream_id, stream_version, event_id, event_type,"
                    " schema_version, person_id, occurred_at, envelope, actor, channel)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    [
                        (
                            e.stream_id,
                            version + n,
                            e.event_id,
                            e.event_type,
                            e.schema_version,
                            e.person_id,
                            e.occurred_at,
                            e.to_bytes().decode(),
                            "bench",
                            None,
                        )
                        for n, e in enumerate(envelopes, start=1)
                    ],
                )
                await conn.executemany(
                    "INSERT INTO outbox (topic, message_key, event_type, schema_version, value)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    [(store.topic, e.person_id, e.event_type, 1, e.to_bytes()) for e in envelopes],
                )
                await conn.execute("SELECT pg_notify($1, '')", store.channel)

        async def grouped_command(i: int) -> None:
            stream = APPEND_ALL.in_stream(stream_of(i, concurrency), person=f"p{i}")
            await group.run(stream, command_payloads(i), CAUSE)

        raw_rate = await _run_workers(commands, concurrency, raw_command)
        our_rate = await _run_workers(commands, concurrency, our_command)
        grouped_rate = await _run_workers(commands, concurrency, grouped_command)
        return our_rate, grouped_rate, raw_rate
    finally:
        await raw.close()
        await grouped.close()
        await ours.close()


async def relay(database_url: str, bootstrap: str) -> tuple[float, float, int]:
    """(ours, raw) events/s publishing the outbox the appends left, and how many."""
    await ensure_topics(bootstrap, partitions=6, replication_factor=1)
    pool = await create_pool(database_url, "bench_appends", min_size=1, max_size=2)
    rows = await pool.fetch(
        "SELECT topic, message_key, event_type, schema_version, value FROM outbox ORDER BY id"
    )
    try:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
        )
        await producer.start()
        try:
            started = time.perf_counter()
            futures = [
                await producer.send(
                    r["topic"],
                    value=r["value"],
                    key=r["message_key"].encode(),
                    headers=record_headers(r["event_type"], r["schema_version"]),
                )
                for r in rows
            ]
            await asyncio.gather(*futures)
            raw_rate = len(rows) / (time.perf_counter() - started)
        finally:
            await producer.stop()

        ours = idempotent_producer(bootstrap, "bench-relay")
        await ours.start()
        try:
            relay_ = OutboxRelay(
                pool, ours, EventStore("card").channel, bootstrap_servers=bootstrap
            )
            started = time.perf_counter()
            async with pool.acquire() as conn:
                while await relay_.publish_batch(conn):
                    pass
            our_rate = len(rows) / (time.perf_counter() - started)
        finally:
            await ours.stop()
        return our_rate, raw_rate, len(rows)
    finally:
        await pool.close()
