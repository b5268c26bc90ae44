"""PostgreSQL connection pools per service schema, and plain-SQL migrations applied in order."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from shared.check import check_identifier

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    #: A connection of our own or one borrowed from a pool: both work the same.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"

#: The database is away: down, restarting, shutting down, full, or a connection cut in the
#: middle of a query (asyncpg then raises InternalClientError). Worth a retry; never a defect.
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)
#: What a background loop (relay, dispatcher, timers) waits out and tries again after.
DATABASE_FAULTS: tuple[type[Exception], ...] = (*UNAVAILABLE, asyncpg.PostgresError)


async def _no_reset(_: asyncpg.Connection[asyncpg.Record]) -> None:
    """Connections go back to the pool as they are: the default reset (UNLISTEN, RESET ALL,
    unlock) costs a round trip per command, and our code sets no session state, and releases
    its listeners and advisory locks itself."""


_MIGRATION_LOCK = 0x5EBA0


async def create_pool(
    database_url: str, schema: str, *, min_size: int = 2, max_size: int = 10
) -> asyncpg.Pool:
    """A pool whose connections work in ``schema`` (created when missing)."""
    check_identifier(schema)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    except asyncpg.UniqueViolationError:
        pass  # another service process created it at the same moment
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema, "application_name": f"shebao-{schema}"},
        reset=_no_reset,
    )
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool, *folders: Path) -> list[str]:
    """Apply every ``*.sql`` file of the folders not applied yet, in name order; return them."""
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for folder in folders:
            for path in sorted(folder.glob("*.sql")):
                name = f"{folder.parent.name}/{path.name}"
                if name in done:
                    continue
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                applied.append(name)
    return applied


async def take_turn(conn: Connection, name: str) -> None:
    """Wait until no other transaction holds the turn called ``name``; hold it until this
    transaction ends (a PostgreSQL advisory lock, so across processes and replicas too)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
