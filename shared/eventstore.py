"""The PostgreSQL event store: append with expected version, and the outbox in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic_core import to_json

from shared import tracing
from shared.claims import Claim, current_claim, mark_committed, mark_parameters, marked
from shared.contracts import EventPayload, acted_for, superseded_shape
from shared.db import Connection
from shared.envelope import Envelope, new_event_id, utc_now
from shared.topics import EVENTS_TOPIC, Producer

#: From this many events on, one append uses COPY instead of row inserts (bulk imports).
BULK_ROWS = 64
EVENT_COLUMNS = (
    "stream_id",
    "stream_version",
    "event_id",
    "event_type",
    "schema_version",
    "person_id",
    "occurred_at",
    "envelope",
    "actor",
    "channel",
)
OUTBOX_COLUMNS = ("topic", "message_key", "event_type", "schema_version", "value", "headers")
_APPEND = (
    "WITH appended AS (INSERT INTO events (stream_id, stream_version, event_id, event_type,"
    " schema_version, person_id, occurred_at, envelope, actor, channel)"
    " SELECT s, v, i, t, sv, p, o, e::jsonb, a, c FROM unnest($1::text[], $2::int[], $3::uuid[],"
    " $4::text[], $5::int[], $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::text[])"
    " AS u(s, v, i, t, sv, p, o, e, a, c)"
    " RETURNING person_id, event_type, schema_version, stream_version),"
    # The outbox in the order the commands came; the events (above) in stream order, so that
    # two transactions appending to the same streams take their locks in the same order.
    " queued AS (INSERT INTO outbox (topic, message_key, event_type, schema_version, value,"
    " headers) SELECT $12, p, t, sv, val, h FROM unnest($19::text[], $20::text[],"
    " $21::int[], $11::bytea[], $14::text[]) WITH ORDINALITY AS u(p, t, sv, val, h, n)"
    " ORDER BY n RETURNING 1),"
    # Each command's Idempotency-Key marked as taking effect (shared.idempotency.MARK; empty
    # arrays when the commands came without one).
    " marked AS (UPDATE idempotency_keys k SET committed_at = coalesce(k.committed_at, now()),"
    " events = k.events || m.events::jsonb FROM unnest($15::bytea[], $16::text[], $17::uuid[],"
    " $18::text[]) AS m(scope, key, attempt, events)"
    " WHERE k.scope = m.scope AND k.key = m.key AND k.attempt = m.attempt RETURNING true)"
    " SELECT pg_notify($13, ''), (SELECT count(*) FROM marked) AS held"
    " FROM (SELECT count(*) FROM appended) a, (SELECT count(*) FROM queued) q"
)


def outbox_channel(producer: Producer) -> str:
    """The LISTEN/NOTIFY channel that wakes a service's relay when its outbox grows."""
    return f"shebao_outbox_{producer}"


class ConcurrencyError(Exception):
    """Another writer appended to the stream first: reload and decide again."""

    code = "CONCURRENT_UPDATE"


@dataclass(frozen=True)
class Actor:
    """Who acted, and through which channel: kept beside each event for the timeline."""

    name: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Causation:
    """Why events happen: the request or event that caused them, its correlation id, and who
    acted through which channel (kept beside the events for the person's timeline)."""

    correlation_id: str
    causation_id: str
    actor: str | None = None
    channel: str | None = None
    #: A family holder acting for the person: their events name the holder (version 2).
    acting_person_id: str | None = None

    @property
    def who(self) -> Actor:
        """Who acted, through which channel."""
        return Actor(self.actor, self.channel)

    @classmethod
    def of_event(cls, envelope: Envelope) -> Causation:
        """Events caused by a consumed event keep its correlation id."""
        return cls(envelope.correlation_id, envelope.event_id_text, actor=envelope.producer)


class EventStore:
    """One service's event store. Every method runs on a connection the caller owns."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.topic = EVENTS_TOPIC[producer]
        self.channel = outbox_channel(producer)

    async def load(self, conn: Connection, stream_id: str) -> list[Envelope]:
        """Every event of a stream, in order."""
        rows = await conn.fetch(
            "SELECT envelope FROM events WHERE stream_id = $1 ORDER BY stream_version", stream_id
        )
        return [Envelope.model_validate_json(r["envelope"]) for r in rows]

    async def version(self, conn: Connection, stream_id: str) -> int:
        """How many events a stream holds (its last version), without loading them."""
        version: int = await conn.fetchval(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id
        )
        return version

    async def load_many(
        self, conn: Connection, stream_ids: Sequence[str]
    ) -> dict[str, list[Envelope]]:
        """Every event of each of several streams, in order, in one query."""
        rows = await conn.fetch(
            "SELECT stream_id, envelope FROM events WHERE stream_id = ANY($1::text[])"
            " ORDER BY stream_id, stream_version",
            list(stream_ids),
        )
        streams: dict[str, list[Envelope]] = {}
        for r in rows:
            streams.setdefault(r["stream_id"], []).append(
                Envelope.model_validate_json(r["envelope"])
            )
        return streams

    async def person_history(
        self, conn: Connection, person_id: str
    ) -> list[tuple[Envelope, str | None, str | None]]:
        """Every event this service recorded about a person, in the order they were stored,
        with who caused it and through which channel."""
        rows = await conn.fetch(
            "SELECT envelope, actor, channel FROM events WHERE person_id = $1 ORDER BY position",
            person_id,
        )
        return [
            (Envelope.model_validate_json(r["envelope"]), r["actor"], r["channel"]) for r in rows
        ]

    def envelopes(
        self,
        stream_id: str,
        expected_version: int,
        person_id: str,
        payloads: Sequence[EventPayload],
        causation: Causation,
    ) -> list[Envelope]:
        """Wrap new payloads in envelopes numbered after ``expected_version``; what a family
        holder did for the person names them (the event's version 2)."""
        now = utc_now()
        if causation.acting_person_id is not None:
            payloads = [acted_for(p, causation.acting_person_id) for p in payloads]
        return [
            Envelope(
                event_id=new_event_id(),
                event_type=p.event_type,
                schema_version=p.schema_version,
                stream_id=stream_id,
                stream_version=expected_version + i,
                person_id=person_id,
                occurred_at=now,
                correlation_id=causation.correlation_id,
                causation_id=causation.causation_id,
                producer=self.producer,
                payload=p.to_payload(),
            )
            for i, p in enumerate(payloads, start=1)
        ]

    async def version_of(self, conn: Connection, stream_id: str) -> int:
        """The stream's version (0 when it has no event), without reading its events."""
        version: int = await conn.fetchval(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id
        )
        return version

    async def append(
        self, conn: Connection, envelopes: Sequence[Envelope], by: Actor | None = None
    ) -> None:
        """Store a command's events and queue them for publication; ConcurrencyError if a
        version is taken.

        Must run inside the caller's transaction, so events, outbox rows and any state change
        commit or fail together.
        """
        traces = tracing.of_causes([e.causation_id for e in envelopes])
        await self.append_writes(conn, [Write(envelopes, by, traces, current_claim())])

    async def append_writes(self, conn: Connection, writes: Sequence[Write]) -> None:
        """Store the events of one or more commands (each numbered after its expected
        version) and queue them for publication, and mark each command's Idempotency-Key as
        taking effect. ConcurrencyError if a version is taken; IdempotencyKeyInUse if another
        attempt took a command's key over. Runs inside the caller's transaction."""
        rows = self.rows(writes)
        if not rows.events:
            return
        claimed = [(w.claim, w.envelopes) for w in writes]
        try:
            if len(rows.events) >= BULK_ROWS:
                await self.copy_rows(conn, rows)
                await mark_committed(conn, claimed)
                return
            # Events, outbox rows, the relay's wake-up and the Idempotency-Key marks in one
            # round trip.
            in_stream_order = sorted(rows.events, key=lambda row: (row[0], row[1]))
            outbox = [list(column) for column in zip(*rows.outbox, strict=True)]
            held = await conn.fetchval(
                _APPEND,
                *(list(column) for column in zip(*in_stream_order, strict=True)),
                outbox[4],
                self.topic,
                self.channel,
                outbox[5],
                *mark_parameters(claimed),
                *outbox[1:4],
                column=1,
            )
        except asyncpg.UniqueViolationError as exc:
            raise ConcurrencyError(str(rows.events[0][0])) from exc
        marked(claimed, int(held))
        if rows.superseded:
            await conn.copy_records_to_table(
                "outbox", records=rows.superseded, columns=OUTBOX_COLUMNS
            )

    def rows(self, writes: Sequence[Write]) -> Rows:
        """The rows ``writes`` come to (pure: a bulk import builds them in other processes)."""
        envelopes = [e for w in writes for e in w.envelopes]
        raws = [e.to_bytes() for e in envelopes]
        actors = [w.by or _NOBODY for w in writes for _ in w.envelopes]
        # Each event continues the trace of what caused it (a request, a consumed event).
        traces = [t for w in writes for t in w.traces]
        events = [
            (
                e.stream_id,
                e.stream_version,
                e.event_id,
                e.event_type,
                e.schema_version,
                e.person_id,
                e.occurred_at,
                raw.decode(),
                by.name,
                by.channel,
            )
            for e, raw, by in zip(envelopes, raws, actors, strict=True)
        ]
        outbox = [
            self._outbox_row(e, raw, trace)
            for e, raw, trace in zip(envelopes, raws, traces, strict=True)
        ]
        # After the events: the old shape of each whose version superseded one integrators
        # still read (the same event id; never stored as an event of its own).
        superseded = [
            self._outbox_row(old, old.to_bytes(), trace)
            for e, trace in zip(envelopes, traces, strict=True)
            if (old := superseded_shape(e)) is not None
        ]
        return Rows(events, outbox, superseded)

    def _outbox_row(self, e: Envelope, raw: bytes, trace: str | None) -> tuple[Any, ...]:
        headers = e.cloudevent_headers() | tracing.header_of(trace)
        return (
            self.topic,
            e.person_id,
            e.event_type,
            e.schema_version,
            raw,
            to_json(headers).decode(),
        )

    async def copy_rows(self, conn: Connection, rows: Rows) -> None:
        """Write rows built by ``rows`` with COPY (many of them: an import) and wake the relay;
        UniqueViolationError if a version is taken. Runs inside the caller's transaction."""
        await conn.copy_records_to_table("events", records=rows.events, columns=EVENT_COLUMNS)
        outbox = rows.outbox + rows.superseded
        await conn.copy_records_to_table("outbox", records=outbox, columns=OUTBOX_COLUMNS)
        await conn.execute("SELECT pg_notify($1, '')", self.channel)


@dataclass(frozen=True)
class Rows:
    """Commands' events and outbox rows as the event store writes them."""

    events: list[tuple[Any, ...]]
    outbox: list[tuple[Any, ...]]
    #: Old shapes of superseded versions, queued after the events.
    superseded: list[tuple[Any, ...]]


_NOBODY = Actor()


@dataclass(frozen=True)
class Write:
    """One command's new events, as the event store appends them beside others'."""

    envelopes: Sequence[Envelope]
    #: Who acted, through which channel.
    by: Actor | None
    #: The trace each event continues (``shared.tracing.of_causes`` where the command ran).
    traces: Sequence[str | None]
    #: The command's hold on its Idempotency-Key, marked in the same transaction.
    claim: Claim | None
