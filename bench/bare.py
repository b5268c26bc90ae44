"""The read baseline of the HTTP benchmark: a bare FastAPI + asyncpg route doing one query,
served by uvicorn as the services are, and nothing else (no auth, logging, metrics or tracing).

    DATABASE_URL=... python -m bench.bare PORT
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException

ROWS = 10_000
SCHEMA = "bench_bare"


async def fill(database_url: str) -> None:
    """The table the bare route reads: ``ROWS`` cards."""
    conn = await asyncpg.connect(database_url)
    try:
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


def create_app(database_url: str) -> FastAPI:
    """The bare app: one pool, one route."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(database_url, min_size=4, max_size=20)
        yield
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

    @app.get("/health")
    @app.get("/ready")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    uvicorn.run(
        create_app(os.environ["DATABASE_URL"]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
    )
