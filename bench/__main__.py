"""``make bench``: the event spine and the whole platform under load, each figure beside a
baseline measured in the same run, on the local stack (bounded in count, loopback only).

    .venv/bin/python -m bench [--commands 5000] [--consumer-events 10000] [--journeys 100]
                              [--history 50000] ...

Writes bench/results/<date>.md with the table and PNG plots beside it, and prints the table.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bench import es_library, journeys, spine
from bench.common import RESULTS, Figure, infrastructure, percentile
from bench.report import plots, table
from deploy.stack import services_on_free_ports

THROUGHPUT_RATIO = {"appends": 0.70, "relay": 0.50, "consumer": 0.40}


def main(
    commands: Annotated[int, typer.Option(min=100, help="Commands per append run.")] = 5000,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 16,
    consumer_events: Annotated[int, typer.Option(min=500, help="Events per consumer.")] = 10000,
    journey_count: Annotated[int, typer.Option("--journeys", min=10)] = 100,
    journey_concurrency: Annotated[int, typer.Option(min=1, max=64)] = 8,
    history: Annotated[int, typer.Option(min=0, help="Events of history for RSS.")] = 50000,
    repeats: Annotated[
        int, typer.Option(min=1, max=9, help="Throughput runs, alternated; medians reported.")
    ] = 3,
    out: Annotated[Path, typer.Option(help="Folder of the report.")] = RESULTS,
) -> None:
    """Run every benchmark and write the report."""
    started = time.monotonic()
    figures: list[Figure] = []
    latencies: list[float] = []
    notes: list[str] = [f"Throughput rows are medians of {repeats} alternated runs."]
    with infrastructure() as infra:
        db, kafka = infra.database_url, infra.bootstrap_servers
        # This machine is shared and noisy: ours, the baseline and the library alternate,
        # and each figure is the median of its runs.
        runs = []
        for _ in range(repeats):
            ours_run, raw_run = asyncio.run(spine.appends(db, commands, concurrency))
            theirs_run = es_library.commands_per_second(db, commands, concurrency)
            runs.append((ours_run, raw_run, theirs_run))
        ours, raw, theirs = (statistics.median(column) for column in zip(*runs, strict=True))
        notes.append(
            "Appends runs (ours / raw asyncpg / eventsourcing, cmd/s): "
            + "; ".join(f"{o:,.0f} / {r:,.0f} / {t:,.0f}" for o, r, t in runs)
        )
        figures.append(
            Figure(
                f"command appends/s, concurrency {concurrency} (1-3 events, version check, outbox)",
                ours,
                "cmd/s",
                raw,
                "raw asyncpg",
                ">= 70%",
                ours / raw >= 0.70,
            )
        )
        relayed, raw_relay, count = asyncio.run(spine.relay(db, kafka))
        figures.append(
            Figure(
                f"outbox -> Kafka relay ({count:,} events)",
                relayed,
                "ev/s",
                raw_relay,
                "raw aiokafka, acks=all, idempotent",
                ">= 50%",
                relayed / raw_relay >= 0.5,
            )
        )
        figures.append(
            Figure(
                "same command workload on the eventsourcing library (PostgreSQL)",
                ours,
                "cmd/s",
                theirs,
                "eventsourcing 9.x",
                ">= 5x",
                ours / theirs >= 5,
            )
        )
        rows = [asyncio.run(spine.consumers(db, kafka, consumer_events)) for _ in range(repeats)]
        for per_service in zip(*rows, strict=True):
            row = {
                key: (
                    statistics.median(float(r[key]) for r in per_service)
                    if isinstance(per_service[0][key], float)
                    else per_service[0][key]
                )
                for key in per_service[0]
            }
            row["matches"] = all(bool(r["matches"]) for r in per_service)
            name = row["service"]
            rate, base = float(row["consumer"]), float(row["raw"])
            figures.append(
                Figure(
                    f"consumer events/s, {name} (dedupe + state change + offset commit)",
                    rate,
                    "ev/s",
                    base,
                    "raw aiokafka + asyncpg",
                    ">= 40% and >= 10,000/s",
                    rate / base >= 0.4 and rate >= 10_000,
                )
            )
            replay, base_replay = float(row["rebuild"]), float(row["raw_replay"])
            figures.append(
                Figure(
                    f"rebuild events/s, {name} (from offset 0; digest equal: {row['matches']})",
                    replay,
                    "ev/s",
                    base_replay,
                    "raw aiokafka + asyncpg",
                    ">= 50,000/s",
                    replay >= 50_000,
                )
            )
        with (
            tempfile.TemporaryDirectory(prefix="shebao-bench-logs-") as logs,
            services_on_free_ports(infra, Path(logs)) as procs,
        ):
            e2e = asyncio.run(journeys.end_to_end(procs, kafka, journey_count, journey_concurrency))
            latencies = e2e.latencies_ms
            figures.append(
                Figure(
                    f"end-to-end journeys/s (verify -> apply -> produce -> mail -> activate ->"
                    f" notified), concurrency {journey_concurrency}, {os.cpu_count()} cores",
                    e2e.journeys_per_s,
                    "journeys/s",
                    goal="absolute",
                )
            )
            for q in (50, 95, 99):
                figures.append(
                    Figure(
                        f"p{q} of it until scheduled (relay, Kafka, notification consumer)",
                        percentile(e2e.scheduled_ms, q),
                        "ms",
                    )
                )
            for q in (50, 95, 99):
                figures.append(
                    Figure(
                        f"p{q} command accepted -> NotificationSent at {e2e.paced_per_s:.1f}"
                        f" journeys/s ({len(latencies)} messages)",
                        percentile(latencies, q),
                        "ms",
                        goal="p99 <= 100 ms" if q == 99 else "",
                        met=percentile(latencies, q) <= 100 if q == 99 else None,
                    )
                )
            # Twice half the history: the second half shows whether memory still grows.
            start, half, first = asyncio.run(
                journeys.memory_after_history(procs, kafka, db, history // 2)
            )
            _, after, second = asyncio.run(
                journeys.memory_after_history(
                    procs, kafka, db, history - history // 2, first_citizen=2_000_000
                )
            )
            for name in after:
                figures.append(
                    Figure(
                        f"RSS of {name} after {first + second:,} events consumed (at start"
                        f" {start[name]:.0f} MB, after {first:,}: {half[name]:.0f} MB)",
                        after[name],
                        "MB",
                        goal="<= 200 MB",
                        met=after[name] <= 200,
                    )
                )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    out.mkdir(parents=True, exist_ok=True)
    pictures = plots(figures, latencies, out, stamp)
    minutes = (time.monotonic() - started) / 60
    text = "\n".join(
        [
            f"# Benchmarks, {stamp}",
            "",
            f"`.venv/bin/python -m bench --commands {commands} --concurrency {concurrency}"
            f" --consumer-events {consumer_events} --journeys {journey_count}"
            f" --journey-concurrency {journey_concurrency} --history {history}"
            f" --repeats {repeats}`"
            f" on {platform.machine()} with {os.cpu_count()} cores (Kafka, PostgreSQL and the"
            f" services share them), {minutes:.1f} min. Every baseline was measured in this run.",
            "",
            table(figures),
            "",
            *(f"![{p.stem}]({p.name})" for p in pictures),
            "",
            *(f"- {note}" for note in notes),
            "",
        ]
    )
    report = out / f"{stamp}.md"
    report.write_text(text)
    print(table(figures))
    print(f"\nreport: {report}")


if __name__ == "__main__":
    typer.run(main)
