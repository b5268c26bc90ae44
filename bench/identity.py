"""Identity benchmark: registry import vs raw COPY, relay drain, verifications at concurrency.

    .venv/bin/python -m bench.identity --persons 100000 --verifications 3000 --concurrency 32

Runs on the local stack (or KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), bounded in count, on
loopback only; prints a table and writes bench/results/<date>-identity.md.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import typer

from bench.common import RESULTS, infrastructure
from deploy.demo.citizens import Citizen, face_check_for, fake_citizen
from deploy.paths import free_port
from deploy.stack import service_process
from services.identity.app import MIGRATIONS, build_identity
from services.identity.registration.rows import Row
from services.identity.settings import IdentitySettings
from shared.db import SHARED_MIGRATIONS, create_pool, migrate
from shared.eventstore import Causation, EventStore


def citizens(count: int) -> list[Citizen]:
    """Made-up citizens with distinct ID numbers."""
    rng = random.Random(2026)  # noqa: S311 - made-up citizens, not secrets
    seen: set[str] = set()
    people: list[Citizen] = []
    while len(people) < count:
        citizen = fake_citizen(rng)
        if citizen.id_number not in seen:
            seen.add(citizen.id_number)
            people.append(citizen)
    return people


async def raw_copy(database_url: str, people: list[Citizen]) -> float:
    """Baseline: rows/s of a raw asyncpg COPY of the same rows into a plain table."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS bench_raw_persons;"
            " CREATE TABLE bench_raw_persons (name text, id_number text PRIMARY KEY,"
            " phone text, region text)"
        )
        records = [(c.name, c.id_number, c.phone, c.region) for c in people]
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("bench_raw_persons", records=records)
        return len(records) / (time.perf_counter() - started)
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_raw_persons")
        await conn.close()


async def registry_import(database_url: str, people: list[Citizen]) -> float:
    """persons/s of `shebao import persons` (check, encrypt, events, outbox, registry)."""
    settings = IdentitySettings()
    pool = await create_pool(database_url, "identity", max_size=2)
    try:
        await migrate(pool, SHARED_MIGRATIONS, *MIGRATIONS)
        registrar = build_identity(settings, pool, EventStore("identity")).registrar
        rows: list[Row] = [(n, c.registration()) for n, c in enumerate(people, start=2)]
        started = time.perf_counter()
        report = await registrar.import_rows(rows, Causation("bench", "bench"))
        elapsed = time.perf_counter() - started
        assert report.committed, report.rejected[:3]
        assert report.registered == len(people)
        return len(people) / elapsed
    finally:
        await pool.close()


async def drain(database_url: str, timeout_s: float = 600) -> float:
    """Seconds until the identity relay has published the whole outbox."""
    conn = await asyncpg.connect(database_url)
    started = time.perf_counter()
    try:
        while await conn.fetchval("SELECT count(*) FROM identity.outbox"):
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError("the relay did not drain the outbox in time")
            await asyncio.sleep(0.2)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def verifications(
    url: str, people: list[Citizen], concurrency: int
) -> tuple[float, list[float], list[str]]:
    """requests/s and latencies (s) of real-person verifications at a concurrency."""
    bodies: list[dict[str, object]] = [
        {
            "name": c.name,
            "id_number": c.id_number,
            "face_check": face_check_for(c).model_dump(mode="json"),
        }
        for c in people
    ]
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                sent = time.perf_counter()
                try:
                    response = await client.post(
                        f"{url}/v1/verifications",
                        json=body,
                        headers={"X-Api-Key": "dev-online-hall"},
                    )
                except httpx.TransportError as exc:
                    errors.append(type(exc).__name__)
                    continue
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 201:
                    errors.append(response.json().get("code", str(response.status_code)))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100)."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main(
    persons: int = typer.Option(100_000, min=100, max=1_000_000),
    verification_count: int = typer.Option(3_000, "--verifications", min=100, max=100_000),
    concurrency: int = typer.Option(32, min=1, max=256),
) -> None:
    """Run the identity benchmark and write its report."""
    people = citizens(persons)
    with infrastructure() as infra:
        baseline = asyncio.run(raw_copy(infra.database_url, people))
        imported = asyncio.run(registry_import(infra.database_url, people))
        with tempfile.TemporaryDirectory() as logs:
            service = service_process("identity", infra, Path(logs), port=free_port())
            service.log_path = RESULTS / "identity-service.log"
            service.start()
            try:
                service.wait_ready(120)
                drained = asyncio.run(drain(infra.database_url))
                rate, latencies, errors = asyncio.run(
                    verifications(service.url, people[:verification_count], concurrency)
                )
            finally:
                service.stop()
    rows = [
        (
            "registry import, persons/s",
            f"{imported:,.0f}",
            f"raw COPY {baseline:,.0f} rows/s",
            f"{imported / baseline:.1%}",
        ),
        ("relay drain of the import, events/s", f"{persons / drained:,.0f}", "", ""),
        (f"verifications/s at concurrency {concurrency}", f"{rate:,.0f}", "", ""),
        ("verification errors", f"{len(errors)} {sorted(set(errors))}", "", ""),
        (
            "verification latency p50 / p95 / p99 ms",
            " / ".join(f"{percentile(latencies, p) * 1000:.1f}" for p in (50, 95, 99)),
            "",
            "",
        ),
    ]
    report = [
        f"# Identity benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{persons:,} persons, {verification_count:,} verifications, concurrency {concurrency}, "
        f"{os.cpu_count()} cores, local stack.",
        "",
        "| figure | value | baseline (same run) | ratio |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-identity.md"
    path.write_text("\n".join(report))
    print("\n".join(report))
    print(f"written to {path}")


if __name__ == "__main__":
    typer.run(main)
