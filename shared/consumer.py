"""Consuming foreign events exactly once in effect: inbox dedupe, dead letters, retries.

The state change and the inbox row commit in one transaction; the Kafka offset is committed
only after it (FastStream ``AckPolicy.NACK_ON_ERROR``), so a redelivery finds the inbox row
and changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.trace import Span, SpanKind

from shared import tracing
from shared.batching import apply_each
from shared.contracts import EventPayload
from shared.db import UNAVAILABLE, Connection
from shared.envelope import Envelope
from shared.eventstore import ConcurrencyError
from shared.faults import NO_FAULTS, Faults
from shared.kafka import Kafka
from shared.metrics import CONSUMER_HELD, DEAD_LETTERS, DUPLICATES_SKIPPED, EVENTS_APPLIED
from shared.records import PoisonMessageError, read_record
from shared.redrive import (
    DEAD_LETTER_REASON_HEADER,
    REDRIVE_REFUSED,
    SOURCE_HEADERS,
    genuine_redrive,
    is_parking_header,
    is_redrive,
    ref_of,
)
from shared.topics import dead_letter_topic

log = structlog.get_logger(__name__)

Apply = Callable[[Connection, Envelope, EventPayload], Awaitable[None]]
#: Applies a whole batch of new events at once (set-based: a few statements per batch).
ApplyMany = Callable[[Connection, Sequence[tuple[Envelope, EventPayload]]], Awaitable[None]]

#: Faults that pass: the event is retried with backoff, never skipped.
TRANSIENT: tuple[type[Exception], ...] = (
    *UNAVAILABLE,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    ConcurrencyError,
)

#: On notification.dlt, the message a failed delivery was (``shebao notifications``).
NOTIFICATION_ID_HEADER = "notification_id"
#: Records fetched and applied per transaction (one offset commit each).
BATCH_RECORDS = 500
#: How long an idle consumer's poll waits (and then sleeps) before it polls again.
BATCH_WAIT_MS = 10


@dataclass(frozen=True)
class ForeignFeed:
    """The foreign events a consumer group applies: where they are, which, and how."""

    group: str
    topics: Collection[str]
    handles: Collection[str]
    apply: Apply
    #: The same as ``apply``, for a whole batch at once, where the service has it.
    apply_many: ApplyMany | None = None


@dataclass
class InboxConsumer:
    """Applies the events of ``handles`` for consumer group ``group``, each once."""

    pool: asyncpg.Pool
    group: str
    handles: Collection[str]
    apply: Apply
    dead_letters: AIOKafkaProducer
    faults: Faults = NO_FAULTS
    max_backoff_s: float = 5.0
    apply_many: ApplyMany | None = None
    #: A record could not be parked: the consumer holds at it (not ready) until it can.
    parking_failed: bool = False
    #: Where the group's topics are: a redrive is checked against the record at its source.
    kafka: Kafka = ""
    topics: Collection[str] = ()

    def __post_init__(self) -> None:
        # Every series of the group from the start, at zero: an alert rule sees it.
        CONSUMER_HELD.labels(self.group).set(0)
        for counter in (EVENTS_APPLIED, DUPLICATES_SKIPPED, DEAD_LETTERS):
            counter.labels(self.group)

    @classmethod
    def for_feed(
        cls,
        feed: ForeignFeed,
        pool: asyncpg.Pool,
        dead_letters: AIOKafkaProducer,
        *,
        faults: Faults = NO_FAULTS,
        kafka: Kafka = "",
    ) -> InboxConsumer:
        """The live consumer of a feed (``kafka``: where it reads, to check redrives)."""
        return cls(
            pool,
            feed.group,
            feed.handles,
            feed.apply,
            dead_letters,
            faults,
            apply_many=feed.apply_many,
            kafka=kafka,
            topics=tuple(feed.topics),
        )

    async def handle(self, message: KafkaMessage) -> None:
        """FastStream entry point: a batch of Kafka records (one poll) in; each event's state
        change at most once; offsets committed by FastStream after this returns."""
        raw = message.raw_message
        records: tuple[ConsumerRecord[bytes, bytes], ...] = (
            raw if isinstance(raw, tuple) else (raw,)
        )
        events: list[tuple[ConsumerRecord[bytes, bytes], Envelope, EventPayload]] = []
        for record in records:
            if record.topic == dead_letter_topic(self.group):
                if not is_redrive(record):
                    continue  # parked records and operators' notes: only a redrive is applied
                if not await genuine_redrive(record, self.kafka, self.topics):
                    log.warning("redrive_refused", group=self.group, ref=ref_of(record))
                    await self._dead_letter(record, REDRIVE_REFUSED)
                    continue
            try:
                event = read_record(record.value, record.headers, self.handles)
            except PoisonMessageError as exc:
                await self._dead_letter(record, exc.reason)
                continue
            if event is not None:
                events.append((record, *event))
        if not events:
            return
        # Each event is applied in a span of the trace its record carries; what it causes
        # (events appended, messages queued) continues that trace.
        spans = {e.event_id_text: self._span(record, e) for record, e, _ in events}
        try:
            with tracing.causes({k: tracing.of_span(s) for k, s in spans.items()}):
                await self._apply_all(events)
        finally:
            for span in spans.values():
                span.end()
        self.faults.crash_here("after_commit", group=self.group, events=len(events))

    async def _apply_all(
        self, events: list[tuple[ConsumerRecord[bytes, bytes], Envelope, EventPayload]]
    ) -> None:
        try:
            await self._with_retry(lambda: self.apply_batch([(e, p) for _, e, p in events]))
        except Exception:
            # One event of the batch cannot be applied: apply them one by one, so that only
            # that one is parked and the others still take effect.
            log.warning("batch_failed_applying_singly", group=self.group, size=len(events))
            for record, envelope, payload in events:
                await self._handle_one(record, envelope, payload)

    def _span(self, record: ConsumerRecord[bytes, bytes], envelope: Envelope) -> Span:
        return tracing.start(
            f"{self.group} process {envelope.event_type}",
            SpanKind.CONSUMER,
            tracing.record_parent(record.headers),
            {
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": self.group,
                "messaging.message.id": envelope.event_id_text,
            },
        )

    async def _handle_one(
        self, record: ConsumerRecord[bytes, bytes], envelope: Envelope, payload: EventPayload
    ) -> None:
        try:
            await self._with_retry(lambda: self.apply_once(envelope, payload))
        except PoisonMessageError as exc:
            await self._dead_letter(record, exc.reason)
        except Exception as exc:
            # A fault that is neither transient nor a contract breach is parked, not looped on:
            # an operator can replay the dead letter once the cause is fixed.
            log.exception("consumer_failed", group=self.group, event_id=str(envelope.event_id))
            await self._dead_letter(record, f"HANDLER_ERROR {type(exc).__name__}")

    async def apply_batch(self, events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        """Apply a batch in one transaction (see ``apply_new``)."""
        async with self.pool.acquire() as conn, conn.transaction():
            applied = await apply_new(conn, self.group, self.apply, events, self.apply_many)
        EVENTS_APPLIED.labels(self.group).inc(applied)

    async def _with_retry(self, attempt: Callable[[], Awaitable[None]]) -> None:
        """Run ``attempt`` until it succeeds; transient faults are retried with backoff,
        never skipped."""
        backoff = 0.1
        while True:
            try:
                await attempt()
                return
            except TRANSIENT as exc:
                log.warning(
                    "consumer_retrying",
                    group=self.group,
                    error=type(exc).__name__,
                    backoff_s=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def apply_once(self, envelope: Envelope, payload: EventPayload) -> None:
        """Apply one event: a batch of one (a repeat is skipped by the inbox)."""
        await self.apply_batch([(envelope, payload)])

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        # A redriven record that fails again is parked again, under its first source.
        source = (
            [(k, v) for k, v in record.headers or () if k in SOURCE_HEADERS]
            if is_redrive(record)
            else [
                ("source_topic", record.topic.encode()),
                ("source_partition", str(record.partition).encode()),
                ("source_offset", str(record.offset).encode()),
            ]
        )
        headers = [
            *((k, v) for k, v in record.headers or () if not is_parking_header(k)),
            (DEAD_LETTER_REASON_HEADER, reason.encode()),
            *source,
        ]
        try:
            await self.dead_letters.send_and_wait(
                dead_letter_topic(self.group), value=record.value, key=record.key, headers=headers
            )
        except Exception as exc:
            # Nothing is skipped: the record stays unconsumed, the service says it is not
            # ready, and it tries again after a pause instead of spinning.
            if not self.parking_failed:
                log.error(
                    "dead_letter_failed",
                    group=self.group,
                    topic=record.topic,
                    offset=record.offset,
                    error=type(exc).__name__,
                )
            self.parking_failed = True
            CONSUMER_HELD.labels(self.group).set(1)
            await asyncio.sleep(self.max_backoff_s)
            raise
        self.parking_failed = False
        CONSUMER_HELD.labels(self.group).set(0)
        DEAD_LETTERS.labels(self.group).inc()
        log.warning(
            "dead_lettered",
            group=self.group,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )


async def apply_new(
    conn: Connection,
    group: str,
    apply: Apply,
    events: Sequence[tuple[Envelope, EventPayload]],
    apply_many: ApplyMany | None = None,
) -> int:
    """Inside the caller's transaction: record the batch in the inbox with one statement, then
    apply each event not seen before, in order, its writes sent behind in runs (a read sends
    them first). How many were applied."""
    fresh = set(
        await conn.fetchval(
            "WITH new AS (INSERT INTO inbox (consumer_group, event_id)"
            " SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id)"
            " SELECT coalesce(array_agg(event_id), '{}') FROM new",
            group,
            [e.event_id for e, _ in events],
        )
    )
    new: list[tuple[Envelope, EventPayload]] = []
    for envelope, payload in events:
        if envelope.event_id in fresh:
            fresh.discard(envelope.event_id)  # the same event twice in one batch: once
            new.append((envelope, payload))
        else:
            log.info("duplicate_skipped", group=group, event_id=str(envelope.event_id))
            DUPLICATES_SKIPPED.labels(group).inc()
    if apply_many is not None:
        await apply_many(conn, new)
    else:
        await apply_each(conn, new, lambda c, event: apply(c, *event))
    return len(new)


def subscribe(broker: KafkaBroker, topics: Collection[str], consumer: InboxConsumer) -> None:
    """Register the consumer on the broker: from the log's start, offsets after the commit;
    its dead-letter topic too, where records an operator redrives come back."""
    broker.subscriber(
        # Made by ensure_topics (or a cluster's admin), never by FastStream: it would make a
        # missing one with a single partition.
        *(Topic(t, declare=False) for t in (*topics, dead_letter_topic(consumer.group))),
        group_id=consumer.group,
        auto_offset_reset="earliest",
        # An operator's decision is written in a transaction (deploy/dead_letters.py): a
        # redrive that lost to another operator's decision is aborted, and never applied.
        isolation_level="read_committed",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=BATCH_RECORDS,
        # FastStream sleeps as long again when a poll comes back empty: short, so that an
        # event arriving at an idle consumer waits milliseconds, not a tenth of a second.
        batch_timeout_ms=BATCH_WAIT_MS,
        # Catching up on history, the fetcher holds what it prefetched as Python objects:
        # bounded, so memory does not grow with the backlog.
        max_partition_fetch_bytes=256 * 1024,
        fetch_max_bytes=4 * 1024 * 1024,
        # We read the raw records (read_record): FastStream need not decode every body.
        decoder=_no_body,
        parser=_lenient_headers,
    )(consumer.handle)


async def _lenient_headers(
    records: tuple[ConsumerRecord[bytes, bytes], ...],
    original: Callable[[Any], Awaitable[Any]],
) -> Any:
    """FastStream decodes every header as UTF-8 before the handler runs: a record with a header
    that is not would fail there and be passed over unseen. FastStream reads a copy with
    readable headers; the handler gets the records as they came (read_record parks it)."""
    readable = tuple(_readable(r) for r in records)
    message = await original(readable)
    message.raw_message = records
    return message


def _readable(record: ConsumerRecord[bytes, bytes]) -> ConsumerRecord[bytes, bytes]:
    """The record itself when its headers read as UTF-8, else a copy whose headers do."""
    try:
        for _, value in record.headers or ():
            value.decode()
    except UnicodeDecodeError:
        headers = [(k, v.decode(errors="replace").encode()) for k, v in record.headers]
        return dataclasses.replace(record, headers=headers)
    return record


async def _no_body(_: Any) -> None:
    """FastStream's decoder, skipped: the handler reads the raw records itself."""
    return None
