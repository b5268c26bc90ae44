"""Rebuild: every service's derived state, replayed from the log, equals the live state."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys

import asyncpg
import pytest

from deploy.demo.journeys import run_demo
from deploy.stack import SERVICES, Infrastructure, ServiceProcess
from shared.db import create_pool
from shared.rebuild import rebuild
from tests.e2e.harness import endpoints


@pytest.fixture(scope="module")
async def history(services: dict[str, ServiceProcess]) -> None:
    journeys = await run_demo(endpoints(services), 4, concurrency=2, seed=5)
    assert all(j.completed for j in journeys), [j.failure for j in journeys]


@pytest.mark.parametrize("service", SERVICES)
async def test_the_rebuilt_state_equals_the_live_state(
    infra: Infrastructure, history: None, service: str
) -> None:
    pool = await create_pool(infra.database_url, service, min_size=1, max_size=2)
    try:
        projection = importlib.import_module(f"services.{service}.app").projection()
        report = await rebuild(pool, projection, infra.bootstrap_servers)
    finally:
        await pool.close()
    assert report.matches, report
    assert report.own_events + report.foreign_events > 0
    assert any(rows > 0 for rows in report.rows.values()), report.rows


async def shebao_rebuild(infra: Infrastructure, *args: str) -> tuple[int, str]:
    """Run the operator command against the test infrastructure."""
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploy.cli",
        "rebuild",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_a_damaged_read_model_is_repaired_by_the_operator_command(
    infra: Infrastructure, history: None
) -> None:
    conn = await asyncpg.connect(infra.database_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM card.cards")
        await conn.execute(
            "DELETE FROM card.cards WHERE card_id IN (SELECT card_id FROM card.cards LIMIT 2)"
        )
        code, output = await shebao_rebuild(infra, "card", "--dry-run")
        assert code == 3, output
        assert await conn.fetchval("SELECT count(*) FROM card.cards") == before - 2
        code, output = await shebao_rebuild(infra, "card")
        assert code == 3, output
        assert await conn.fetchval("SELECT count(*) FROM card.cards") == before
        code, output = await shebao_rebuild(infra, "card")
        assert code == 0, output
        assert "equals the live state" in output
    finally:
        await conn.close()
