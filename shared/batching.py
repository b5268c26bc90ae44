"""Fewer round trips: a batch of events applied in one transaction (``WriteBehind``), and
concurrent calls served together (``Coalescer``).

Handlers are written one event at a time (``await conn.execute(...)``). Applied to a batch,
each such write would cost a round trip to PostgreSQL; a ``WriteBehind`` connection queues
parameterised writes instead and sends each statement's rows as one pipelined
``executemany``. Any read sends the queue first, so a handler always reads its own writes.

Writes keep their order per table: a write joins an earlier run of the same statement only
past writes to other tables (our schemas have no foreign keys or triggers between tables, so
those commute). A statement whose table cannot be told (a CTE, a function call) is a barrier
nothing passes.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar, cast

from asyncpg import Record
from asyncpg.transaction import Transaction

from shared.db import Connection

T = TypeVar("T")
R = TypeVar("R")
#: What ``execute`` answers for a write it queued (asyncpg answers the command's status).
QUEUED = "QUEUED"
_WRITE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([a-z_][a-z0-9_]*)\b", re.I)


def table_of(query: str) -> str | None:
    """The table a plain INSERT, UPDATE or DELETE writes; None for anything else."""
    match = _WRITE.match(query)
    return match.group(1).lower() if match else None


class WriteBehind:
    """A connection that queues ``execute`` with arguments until something needs the
    database's answer (or ``flush``). It offers exactly the calls our handlers make; every
    read sends the queue first."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: list[tuple[str, Sequence[Any]]] = []

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109 - asyncpg's signature
        """Queue a parameterised write; a statement without arguments runs at once."""
        if not args or timeout is not None:
            await self.flush()
            return await self._conn.execute(query, *args, timeout=timeout)
        self._queue.append((query, args))
        return QUEUED

    async def flush(self) -> None:
        """Send the queued writes, each statement's rows as one executemany, in an order that
        keeps every table's writes in the order they were made."""
        queue, self._queue = self._queue, []
        runs: list[tuple[str, str | None, list[Sequence[Any]]]] = []
        for query, args in queue:
            table = table_of(query)
            for run_query, run_table, rows in reversed(runs):
                if run_query == query:
                    rows.append(args)
                    break
                if table is None or run_table is None or run_table == table:
                    runs.append((query, table, [args]))  # cannot pass this write
                    break
            else:
                runs.append((query, table, [args]))
        for query, _, rows in runs:
            if len(rows) == 1:
                await self._conn.execute(query, *rows[0])
            else:
                await self._conn.executemany(query, rows)

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> None:
        """Send the queue, then the rows (already one round trip)."""
        await self.flush()
        await self._conn.executemany(query, args)

    async def fetch(self, query: str, *args: Any) -> list[Record]:
        """Send the queue, then read: a handler always reads its own writes."""
        await self.flush()
        return await self._conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Record | None:
        """Send the queue, then read one row."""
        await self.flush()
        return await self._conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any, column: int = 0) -> Any:
        """Send the queue, then read one value."""
        await self.flush()
        return await self._conn.fetchval(query, *args, column=column)

    async def copy_records_to_table(self, table: str, **kwargs: Any) -> str:
        """Send the queue, then copy."""
        await self.flush()
        return await self._conn.copy_records_to_table(table, **kwargs)

    def transaction(self) -> Transaction:
        """A savepoint; refused while writes are queued (they would land outside it)."""
        if self._queue:
            raise RuntimeError("a savepoint after queued writes: call flush() first")
        return self._conn.transaction()

    def as_connection(self) -> Connection:
        """This object where a handler expects a connection."""
        return cast("Connection", self)


async def apply_each(
    conn: Connection,
    events: Sequence[Any],
    apply: Callable[[Connection, Any], Awaitable[None]],
) -> None:
    """Apply ``apply`` to each event through a write-behind connection, then send the rest."""
    behind = WriteBehind(conn)
    for event in events:
        await apply(behind.as_connection(), event)
    await behind.flush()


class Coalescer(Generic[T, R]):
    """Calls that arrive while earlier ones are being served go together in the next batch:
    ``run_batch(items) -> results`` (one result per item, in order) once for many callers.

    With nothing in flight a call goes alone at once (no added wait); under load, batches
    grow by themselves. At most ``max_running`` batches run at once (each usually holds one
    pooled connection). If a batch fails, every caller in it gets the exception.
    """

    def __init__(
        self,
        run_batch: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 64,
        max_running: int = 2,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_running = max_running
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        """The result of ``item``, served in a batch with those that arrive beside it."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if len(self._running) < self.max_running:
            # A context of its own: a batch serves many requests and must carry none of the
            # first one's context (its Idempotency-Key, its trace) into the others' work.
            task = asyncio.create_task(self._drain(), context=contextvars.Context())
            self._running.add(task)
        return await done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                # A caller that went away (cancelled) is not served: its item never runs.
                waiting = [(item, done) for item, done in self._waiting if not done.done()]
                batch, self._waiting = waiting[: self.max_batch], waiting[self.max_batch :]
                if batch:
                    await self._serve(batch)
        except BaseException:  # cancelled (shutting down): so are the callers still waiting
            for _, done in self._waiting:
                done.cancel()
            self._waiting.clear()
            raise
        finally:
            # At once, not in a callback a loop turn later: a call made meanwhile would see
            # no room for a new drain and wait for one that has ended.
            self._running.discard(asyncio.current_task())

    async def _serve(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run_batch([item for item, _ in batch])
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        except BaseException:
            for _, done in batch:
                done.cancel()
            raise
        for (_, done), result in zip(batch, results, strict=True):
            if not done.done():  # its caller may have gone away
                done.set_result(result)
