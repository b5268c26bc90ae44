"""Write-behind: fewer round trips, and every table's writes in the order they were made."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.batching import WriteBehind, table_of

STATEMENTS = [
    "INSERT INTO a (k) VALUES ($1)",
    "UPDATE a SET v = $1",
    "INSERT INTO b (k) VALUES ($1)",
    "DELETE FROM b WHERE k = $1",
    "WITH x AS (SELECT $1) INSERT INTO a SELECT * FROM x",  # a barrier: table unknown
]


class Recorder:
    """A connection that records what reached the database, and how many round trips."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[Any, ...]]]] = []

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109
        self.calls.append((query, [args]))
        return "OK"

    async def executemany(self, query: str, rows: list[tuple[Any, ...]]) -> None:
        self.calls.append((query, list(rows)))

    async def fetchval(self, query: str, *args: Any, column: int = 0) -> int:  # asyncpg's
        self.calls.append((query, [args]))
        return 1


def per_table(writes: list[tuple[str, tuple[Any, ...]]]) -> dict[str | None, list[Any]]:
    tables: dict[str | None, list[Any]] = defaultdict(list)
    for query, args in writes:
        tables[table_of(query)].append((query, args))
    return dict(tables)


@given(st.lists(st.tuples(st.integers(0, len(STATEMENTS) - 1), st.integers(0, 9)), max_size=40))
def test_each_table_sees_its_writes_in_order(ops: list[tuple[int, int]]) -> None:
    made = [(STATEMENTS[i], (n,)) for i, n in ops]
    recorder = Recorder()
    behind = WriteBehind(recorder)  # type: ignore[arg-type]

    async def run() -> None:
        for query, args in made:
            await behind.execute(query, *args)
        await behind.flush()

    asyncio.run(run())
    sent = [(query, row) for query, rows in recorder.calls for row in rows]
    assert per_table(sent) == per_table(made)
    barriers = [i for i, (q, _) in enumerate(made) if table_of(q) is None]
    sent_barriers = [i for i, (q, _) in enumerate(sent) if table_of(q) is None]
    assert len(barriers) == len(sent_barriers)


def test_interleaved_tables_go_as_one_round_trip_each_and_reads_see_writes() -> None:
    recorder = Recorder()
    behind = WriteBehind(recorder)  # type: ignore[arg-type]

    async def run() -> None:
        for n in range(100):
            await behind.execute(STATEMENTS[0], n)
            await behind.execute(STATEMENTS[2], n)
        await behind.fetchval("SELECT count(*) FROM a")  # sends the queue first

    asyncio.run(run())
    assert [q for q, _ in recorder.calls] == [
        STATEMENTS[0],
        STATEMENTS[2],
        "SELECT count(*) FROM a",
    ]
    assert [len(rows) for _, rows in recorder.calls] == [100, 100, 1]
