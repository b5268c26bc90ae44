"""Write-behind: fewer round trips, and every table's writes in the order they were made."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.batching import Coalescer, WriteBehind, table_of

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


async def test_calls_made_while_a_batch_runs_go_together_in_the_next() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def double(items: list[int]) -> list[int]:
        batches.append(items)
        if len(batches) == 1:
            await release.wait()
        return [2 * i for i in items]

    coalesced: Coalescer[int, int] = Coalescer(double, max_running=1)
    first = asyncio.create_task(coalesced(1))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(coalesced(i)) for i in (2, 3, 4)]
    await asyncio.sleep(0)
    release.set()
    assert [await first, *[await r for r in rest]] == [2, 4, 6, 8]
    assert batches == [[1], [2, 3, 4]]


async def test_a_call_made_as_the_last_batch_ends_is_still_served() -> None:
    async def same(items: list[int]) -> list[int]:
        return items

    coalesced: Coalescer[int, int] = Coalescer(same, max_running=1)

    # The caller wakes in the loop turn in which the drain that served it ends: its next
    # call must start a drain of its own, not wait for the one ending.
    async def caller() -> list[int]:
        return [await coalesced(n) for n in range(20)]

    assert await asyncio.wait_for(caller(), 1) == list(range(20))


async def test_a_caller_that_went_away_is_not_served() -> None:
    served: list[int] = []
    release = asyncio.Event()

    async def record(items: list[int]) -> list[int]:
        served.extend(items)
        await release.wait()
        return items

    coalesced: Coalescer[int, int] = Coalescer(record, max_running=1)
    first = asyncio.create_task(coalesced(1))
    await asyncio.sleep(0)
    gone = asyncio.create_task(coalesced(2))
    kept = asyncio.create_task(coalesced(3))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    assert (await first, await kept) == (1, 3)
    assert served == [1, 3]


async def test_a_failed_batch_fails_each_of_its_callers() -> None:
    async def fail(items: list[int]) -> list[int]:
        raise ValueError(items)

    coalesced: Coalescer[int, int] = Coalescer(fail)
    outcomes = await asyncio.gather(coalesced(1), coalesced(2), return_exceptions=True)
    assert all(isinstance(o, ValueError) for o in outcomes)
