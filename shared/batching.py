"""Fewer round trips when a batch of events is applied in one transaction.

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

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, cast

from asyncpg import Record
from asyncpg.transaction import Transaction

from shared.db import Connection

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
