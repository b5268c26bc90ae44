"""Rebuild: drop a service's derived state and replay it from its own event store and the
topics it consumes, from offset zero. The digest before and after must match."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from shared.check import check_identifier
from shared.consumer import ForeignFeed, apply_new
from shared.contracts import EventPayload
from shared.db import Connection
from shared.envelope import Envelope
from shared.kafka import Kafka, client_options
from shared.records import PoisonMessageError, read_record
from shared.redrive import genuine_redrive, is_redrive
from shared.topics import dead_letter_topic

ApplyOwn = Callable[[Connection, Envelope], Awaitable[None]]
#: Own events read per round trip while replaying them.
OWN_PREFETCH = 1000


@dataclass(frozen=True)
class Projection:
    """A service's derived state and how to refill it."""

    #: table -> the columns that are its content (timestamps of bookkeeping left out).
    tables: Mapping[str, tuple[str, ...]]
    apply_own: ApplyOwn | None = None
    foreign: ForeignFeed | None = None
    #: The own event types ``apply_own`` derives state from (None: every one); the others
    #: are not read back at all.
    own_types: frozenset[str] | None = None


@dataclass
class RebuildReport:
    """What a rebuild did, and whether the rebuilt state equals the live one."""

    digest_before: str
    digest_after: str
    own_events: int = 0
    foreign_events: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        """Whether replaying the log gave exactly the state that was live."""
        return self.digest_before == self.digest_after


async def state_digest(conn: Connection, projection: Projection) -> str:
    """SHA-256 over every derived table's content, independent of row order."""
    digest = hashlib.sha256()
    for table, columns in sorted(projection.tables.items()):
        cols = ", ".join(check_identifier(c) for c in columns)
        table_md5 = await conn.fetchval(
            f"SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"  # noqa: S608
            f" FROM (SELECT {cols} FROM {check_identifier(table)}) r"
        )
        digest.update(f"{table}:{table_md5};".encode())
    return digest.hexdigest()


async def rebuild(
    pool: asyncpg.Pool, projection: Projection, bootstrap_servers: Kafka, *, dry_run: bool = False
) -> RebuildReport:
    """Replay into empty derived state in one transaction (rolled back when ``dry_run``)."""
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            report = RebuildReport(await state_digest(conn, projection), "")
            await _clear(conn, projection)
            report.own_events = await _replay_own(conn, projection)
            report.foreign_events = await _replay_foreign(conn, projection, bootstrap_servers)
            report.digest_after = await state_digest(conn, projection)
            for table in projection.tables:
                report.rows[table] = await conn.fetchval(
                    f"SELECT count(*) FROM {check_identifier(table)}"  # noqa: S608
                )
        except BaseException:
            await tx.rollback()
            raise
        if dry_run:
            await tx.rollback()
        else:
            await tx.commit()
    return report


async def _clear(conn: Connection, projection: Projection) -> None:
    tables = ", ".join(check_identifier(t) for t in projection.tables)
    await conn.execute(f"TRUNCATE {tables}")
    if projection.foreign:
        await conn.execute("DELETE FROM inbox WHERE consumer_group = $1", projection.foreign.group)


async def _replay_own(conn: Connection, projection: Projection) -> int:
    if projection.apply_own is None:
        return 0
    count = 0
    types = sorted(projection.own_types) if projection.own_types is not None else None
    async for row in conn.cursor(
        "SELECT envelope FROM events WHERE $1::text[] IS NULL OR event_type = ANY($1)"
        " ORDER BY position",
        types,
        prefetch=OWN_PREFETCH,
    ):
        await projection.apply_own(conn, Envelope.model_validate_json(row["envelope"]))
        count += 1
    return count


async def _replay_foreign(
    conn: Connection, projection: Projection, bootstrap_servers: Kafka
) -> int:
    feed = projection.foreign
    if feed is None:
        return 0
    count = await _replay_topics(conn, feed, bootstrap_servers, feed.topics)
    # Then what an operator redrove from the group's dead letters: applied after the log
    # that held the record, as it was live.
    return count + await _replay_topics(
        conn, feed, bootstrap_servers, [dead_letter_topic(feed.group)], redrives=True
    )


async def _replay_topics(
    conn: Connection,
    feed: ForeignFeed,
    bootstrap_servers: Kafka,
    topics: Collection[str],
    *,
    redrives: bool = False,
) -> int:
    """Apply what ``topics`` hold up to now; with ``redrives``, only the genuine redrives of
    a dead-letter topic (as the live consumer does)."""
    # Without a group, subscribing assigns every partition at start, from the earliest offset.
    consumer = AIOKafkaConsumer(
        *topics,
        **client_options(bootstrap_servers),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    count = 0
    try:
        partitions = list(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        # The log up to now: what arrives later is the live consumer's business.
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=2000)
            records = [r for tp, rs in batches.items() for r in rs if r.offset < end[tp]]
            if redrives:
                records = [
                    r
                    for r in records
                    if is_redrive(r)
                    and await genuine_redrive(r, bootstrap_servers, tuple(feed.topics))
                ]
            events = [e for r in records if (e := _event_of(feed, r)) is not None]
            if events:
                count += await apply_new(conn, feed.group, feed.apply, events, feed.apply_many)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return count


def _event_of(
    feed: ForeignFeed, record: ConsumerRecord[bytes, bytes]
) -> tuple[Envelope, EventPayload] | None:
    try:
        return read_record(record.value, record.headers, feed.handles)
    except PoisonMessageError:
        return None  # dead-lettered when it was consumed live; it never changed any state
