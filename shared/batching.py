"""Fewer round trips when a batch of events is applied in one transaction.

Handlers are written one event at a time (``await conn.execute(...)``). Applied to a batch,
each such write would cost a round trip to PostgreSQL; a ``WriteBehind`` connection queues
parameterised writes instead and sends each statement's rows as one pipelined
``executemany``. Any read (or any other call) sends the queue first, so a handler always reads
its own writes.

Writes keep their order per table: a write joins an earlier run of the same statement only
past writes to other tables (our schemas have no foreign keys or triggers between tables, so
those commute). A statement whose table cannot be told (a CTE, a function call) is a barrier
nothing passes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from shared.db import Connection

#: Calls that are passed through after the queue is sent.
_PASSED_THROUGH = frozenset(
    {"fetch", "fetchrow", "fetchval", "executemany", "copy_records_to_table", "copy_to_table"}
)


_WRITE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([a-z_][a-z0-9_]*)\b", re.I)


def table_of(query: str) -> str | None:
    """The table a plain INSERT, UPDATE or DELETE writes; None for anything else."""
    match = _WRITE.match(query)
    return match.group(1).lower() if match else None


class WriteBehind:
    """A connection that queues ``execute`` with arguments until something needs the
    database's answer (or ``flush``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: list[tuple[str, Sequence[Any]]] = []

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109 - asyncpg's signature
        """Queue a parameterised write; a statement without arguments runs at once."""
        if not args or timeout is not None:
            await self.flush()
            return await self._conn.execute(query, *args, timeout=timeout)
        self._queue.append((query, args))
        return "QUEUED"

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

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        if name not in _PASSED_THROUGH:
            if self._queue:
                raise RuntimeError(f"{name} needs the queued writes sent first: call flush()")
            return attr

        async def after_flush(*args: Any, **kwargs: Any) -> Any:
            await self.flush()
            return await attr(*args, **kwargs)

        return after_flush

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
