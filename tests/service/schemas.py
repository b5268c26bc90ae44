"""A database schema of its own for one test: migrated, and dropped afterwards."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from deploy.stack import Infrastructure
from shared.db import SHARED_MIGRATIONS, create_pool, migrate


@contextlib.asynccontextmanager
async def schema_pool(
    infra: Infrastructure, prefix: str, *migrations: Path
) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh schema with the event store and ``migrations`` applied."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    pool = await create_pool(infra.database_url, schema)
    try:
        await migrate(pool, SHARED_MIGRATIONS, *migrations)
        yield pool
    finally:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()
