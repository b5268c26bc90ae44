"""The outbox relay: publishes a service's outbox to Kafka in order, then forgets the rows."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from shared.db import DATABASE_FAULTS, Connection
from shared.envelope import record_headers
from shared.kafka import client_options
from shared.metrics import EVENTS_PUBLISHED

log = structlog.get_logger(__name__)

# Only rows whose transaction is older than every transaction still running can be read:
# a row committed later with a smaller id can then never be skipped or reordered.
_READY = (
    "SELECT id, topic, message_key, event_type, schema_version, value, headers FROM outbox"
    " WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY txid, id LIMIT $1"
)


def _event_id(value: bytes | None) -> str:
    """The event id and version an outbox row or record carries ('' when it is no envelope):
    an event published in two shapes (a superseded version beside its successor) is two."""
    try:
        envelope = json.loads(value or b"")
        return f"{envelope['event_id']}/{envelope['schema_version']}"
    except (ValueError, AttributeError, KeyError, TypeError):
        return ""


def extra_headers(stored: str | None) -> list[tuple[str, bytes]]:
    """The headers an outbox row carries beyond the event type and version (CloudEvents
    attributes, trace context); rows queued before they existed carry none."""
    if not stored:
        return []
    return [(name, value.encode()) for name, value in json.loads(stored).items()]


#: How soon to look again when committed rows wait for older transactions to end.
PENDING_POLL_S = 0.005


class OutboxRelay:
    """Publishes outbox rows with the idempotent producer; one active relay per schema."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        channel: str,
        *,
        bootstrap_servers: str,
        batch_size: int = 500,
        idle_poll_s: float = 0.5,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.channel = channel
        self.bootstrap_servers = bootstrap_servers
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        #: Whether this process holds the lock: it is the service's active relay.
        self.leading = False
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Relay until cancelled; waits as a standby while another process holds the lock."""
        backoff = 0.2
        while True:
            try:
                await self._run_locked()
            except asyncio.CancelledError:
                raise
            except (*DATABASE_FAULTS, KafkaError) as exc:
                # Kafka may hold rows whose deletion did not happen: the next round reconciles.
                log.warning("relay_retrying", error=type(exc).__name__, backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _run_locked(self) -> None:
        async with self.pool.acquire() as conn:
            # Advisory locks are per database: the channel names the service, so each
            # service has its own single active relay.
            while not await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", self.channel
            ):
                await asyncio.sleep(1.0)
            await conn.add_listener(self.channel, self._on_notify)
            self.leading = True
            try:
                await self.reconcile(conn)
                while True:
                    self._wake.clear()  # before looking: a wake-up meanwhile is not lost
                    if await self.publish_batch(conn) == 0:
                        # Rows committed but not yet ready wait only for older transactions
                        # to end: look again soon rather than at the next wake-up.
                        waiting = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)")
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                self._wake.wait(), PENDING_POLL_S if waiting else self.idle_poll_s
                            )
            finally:
                self.leading = False
                await conn.remove_listener(self.channel, self._on_notify)
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", self.channel)

    async def reconcile(self, conn: Connection) -> int:
        """Forget the rows Kafka already has; how many.

        A fault between Kafka's acknowledgement and the delete (this process killed, the
        database gone) leaves published rows in the outbox. The relay is its topic's only
        writer and publishes in order, so what of the next rows was published sits at the
        tail of their partitions: those rows are deleted instead of being sent twice."""
        rows = await conn.fetch(_READY, self.batch_size)
        if not rows:
            return 0
        published = await self._tail_event_ids({r["topic"] for r in rows})
        done = [r["id"] for r in rows if _event_id(r["value"]) in published]
        if done:
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", done)
            log.info("relay_reconciled", already_published=len(done))
        return len(done)

    async def _tail_event_ids(self, topics: set[str]) -> set[str]:
        """The event ids of the last ``batch_size`` records of each partition of ``topics``."""
        consumer = AIOKafkaConsumer(
            **client_options(self.bootstrap_servers), enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in sorted(topics)
                for p in sorted(await self.producer.partitions_for(topic))
            ]
            if not partitions:
                return set()
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, max(ends[tp] - self.batch_size, starts[tp]))
            ids: set[str] = set()
            behind = {tp for tp in partitions if ends[tp] > starts[tp]}
            while behind:
                batches = await consumer.getmany(*behind, timeout_ms=1000)
                ids |= {_event_id(r.value) for rs in batches.values() for r in rs}
                behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
            return ids
        finally:
            await consumer.stop()

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def publish_batch(self, conn: Connection) -> int:
        """Publish up to one batch of ready rows in order; delete them once Kafka has them all."""
        rows = await conn.fetch(_READY, self.batch_size)
        if not rows:
            return 0
        # send() only enqueues; awaiting the futures afterwards keeps the pipeline full while
        # the idempotent producer preserves order within each partition.
        futures = [
            await self.producer.send(
                r["topic"],
                value=r["value"],
                key=r["message_key"].encode(),
                headers=[
                    *record_headers(r["event_type"], r["schema_version"]),
                    *extra_headers(r["headers"]),
                ],
            )
            for r in rows
        ]
        await asyncio.gather(*futures)
        # A crash before this delete republishes the batch: consumers dedupe by event_id.
        await conn.execute(
            "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )
        for topic, count in Counter(r["topic"] for r in rows).items():
            EVENTS_PUBLISHED.labels(topic).inc(count)
        return len(rows)
