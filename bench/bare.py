"""The baselines of the HTTP benchmark: a bare FastAPI + asyncpg route doing one query, and a
bare route running the event store's command (``bench.spine``'s, group-committed as the
services' are), served by uvicorn as the services are, and nothing else (no auth, logging,
metrics or tracing).
With ``--edges``, the same route behind the platform's edges (``shared.http.install_edges``:
correlation ids, request metrics and spans, Idempotency-Key, error shapes): what the edges
cost, apart from authentication and the route's own work.

    DATABASE_URL=... python -m bench.bare PORT [--edges]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException

from bench import spine
from bench.workload import CAUSE
from bench.wrk import Call
from deploy.paths import free_port
from deploy.stack import ServiceProcess
from shared import tracing
from shared.db import SHARED_MIGRATIONS, create_pool, migrate
from shared.eventstore import EventStore
from shared.groupcommit import CommitGroup
from shared.http import HttpProtocol, install_edges

ROWS = 10_000
SCHEMA = "bench_bare"
COMMAND_SCHEMA = "bench_bare_commands"


async def fill(database_url: str) -> None:
    """The table the bare route reads: ``ROWS`` cards (and an empty event store)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {COMMAND_SCHEMA} CASCADE")
        await conn.execute(
            f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA};"
            f" CREATE TABLE {SCHEMA}.cards (card_id text PRIMARY KEY, person_id text NOT NULL,"
            " status text NOT NULL, region text NOT NULL, updated_at timestamptz NOT NULL)"
        )
        await conn.execute(
            f"INSERT INTO {SCHEMA}.cards SELECT 'c' || n, 'p' || n, 'active', '110101', now()"  # noqa: S608
            f" FROM generate_series(0, {ROWS - 1}) n"
        )
    finally:
        await conn.close()


def create_app(database_url: str, edges: bool = False) -> FastAPI:
    """The bare app: one pool, one route (behind the platform's edges when asked)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(database_url, min_size=4, max_size=20)
        # The command route's event store, as a service's (10 connections).
        store = await create_pool(database_url, COMMAND_SCHEMA)
        await migrate(store, SHARED_MIGRATIONS)
        app.state.runtime = SimpleNamespace(pool=store)  # what the Idempotency-Key middleware uses
        app.state.group = CommitGroup(store, EventStore("card"))
        yield
        await store.close()
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/cards/{card_id}")
    async def card(card_id: str) -> dict[str, Any]:
        row = await app.state.pool.fetchrow(
            f"SELECT card_id, person_id, status, region, updated_at FROM {SCHEMA}.cards"  # noqa: S608
            " WHERE card_id = $1",
            card_id,
        )
        if row is None:
            raise HTTPException(404)
        return dict(row)

    @app.post("/streams/{stream}/commands/{n}")
    async def command(stream: str, n: int) -> dict[str, int]:
        # The event store's command (bench.spine's), through the services' command path.
        instance = spine.APPEND_ALL.in_stream(stream, person=stream)
        events = await app.state.group.run(instance, spine.command_payloads(n), CAUSE)
        return {"events": len(events)}

    @app.get("/health")
    @app.get("/ready")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if edges:
        tracing.configure("bare")  # as the services run by default: ids made, none exported
        install_edges(app, "bare", lambda _: 400)
    return app


@contextlib.contextmanager
def serving(database_url: str, log_dir: Path, edges: bool = False) -> Iterator[str]:
    """The bare FastAPI + asyncpg app in a process of its own (behind the platform's edges
    when asked); its base URL."""
    asyncio.run(fill(database_url))
    port = free_port()
    proc = ServiceProcess(
        "bare",
        port,
        {**os.environ, "DATABASE_URL": database_url},
        log_dir / "bare.log",
        command=[sys.executable, "-m", "bench.bare", str(port), *(["--edges"] if edges else [])],
    )
    proc.start()
    try:
        proc.wait_ready(60)
        yield proc.url
    finally:
        proc.stop()


def store_commands(keyed: bool, count: int = 6000) -> list[Call]:
    """The event store's commands as requests to the bare app: 1-3 events each, a stream
    taking a command every 1,000 (so its history grows, and concurrent ones rarely meet)."""
    return [
        Call(
            "POST",
            f"/streams/s{n % 1000}-{n // 3000}/commands/{n}",
            {"Idempotency-Key": secrets.token_hex(16)} if keyed else {},
        )
        for n in range(count)
    ]


if __name__ == "__main__":
    uvicorn.run(
        create_app(os.environ["DATABASE_URL"], edges="--edges" in sys.argv[2:]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        loop="uvloop",
        http=HttpProtocol,
    )
