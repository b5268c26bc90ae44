"""What every benchmark shares: the infrastructure, a figure beside its baseline, timing."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from deploy.kafka import NODE_PORT_STEP
from deploy.paths import free_port, free_port_base, shebao_home
from deploy.stack import Infrastructure, start_infrastructure
from shared.db import SHARED_MIGRATIONS, create_pool, migrate

RESULTS = Path(__file__).parent / "results"


@contextlib.contextmanager
def infrastructure(brokers: int = 1) -> Iterator[Infrastructure]:
    """The environment's Kafka and PostgreSQL, else the local stack on free ports: one node,
    or a secured cluster of ``brokers`` (never the environment's then)."""
    with tempfile.TemporaryDirectory(prefix="shebao-bench-") as tmp:
        step = NODE_PORT_STEP
        infra = start_infrastructure(
            shebao_home(),
            Path(tmp),
            kafka_port=free_port_base(step, brokers),
            controller_port=free_port_base(step, brokers),
            external_port=free_port_base(step, brokers),
            pg_port=free_port(),
            use_environment=brokers == 1,
            brokers=brokers,
        )
        try:
            yield infra
        finally:
            infra.stop()


@dataclass
class Figure:
    """One row of the report: our figure, the baseline beside it, and the goal."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""
    #: The goal as a test of (value, ratio), when it has one.
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Our figure as a share of the baseline."""
        if not self.baseline:
            return None
        return self.value / self.baseline


async def fresh_schema(
    database_url: str, schema: str, *folders: Path, size: int = 20
) -> asyncpg.Pool:
    """A pool on an emptied schema with the shared tables and ``folders``' migrations."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()
    pool = await create_pool(database_url, schema, max_size=size)
    await migrate(pool, SHARED_MIGRATIONS, *folders)
    return pool


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")
