"""``make bench``: the event spine and the whole platform under load, each figure beside a
baseline measured in the same run, on the local stack (bounded in count, loopback only).

    .venv/bin/python -m bench [--commands 5000] [--consumer-events 10000] [--journeys 100]
                              [--history 50000] [--only memory] ...

Writes bench/results/<date>.md with the table and PNG plots beside it, and prints the table.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bench import consumers, es_library, journeys, scaling, spine
from bench import http as http_bench
from bench.common import RESULTS, Figure, infrastructure, percentile
from bench.report import plots, table
from deploy.kafka import CLUSTER_PARTITIONS
from deploy.stack import SERVICES, ServiceProcess, services_on_free_ports

THROUGHPUT_RATIO = {"appends": 0.70, "relay": 0.50, "consumer": 0.40}
SECTIONS = ("spine", "consumers", "http", "journeys", "memory", "scaling")
#: A province's peak, on paper (README, "Production topology"): events/s on its busiest topic.
PROVINCE_PEAK_EVENTS_PER_S = 3_000
HEADROOM = 3


@dataclass
class Report:
    """What a section measured."""

    figures: list[Figure] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, other: Report) -> None:
        """Take in another section's figures."""
        self.figures += other.figures
        self.latencies += other.latencies
        self.notes += other.notes


def spine_figures(db: str, kafka: str, commands: int, concurrency: int, repeats: int) -> Report:
    """Command appends (ours, raw asyncpg, the eventsourcing library) and the relay."""
    report = Report()
    # This machine is shared and noisy: ours, the baseline and the library alternate,
    # and each figure is the median of its runs.
    runs = []
    for _ in range(repeats):
        ours_run, grouped_run, raw_run = asyncio.run(spine.appends(db, commands, concurrency))
        theirs_run = es_library.commands_per_second(db, commands, concurrency)
        runs.append((ours_run, grouped_run, raw_run, theirs_run))
    ours, grouped, raw, theirs = (statistics.median(column) for column in zip(*runs, strict=True))
    report.notes.append(
        "Appends runs (ours one transaction each / ours group-committed / raw asyncpg /"
        " eventsourcing, cmd/s): "
        + "; ".join(f"{o:,.0f} / {g:,.0f} / {r:,.0f} / {t:,.0f}" for o, g, r, t in runs)
    )
    report.figures.append(
        Figure(
            f"command appends/s, concurrency {concurrency}, one transaction each (1-3 events,"
            " version check, outbox)",
            ours,
            "cmd/s",
            raw,
            "raw asyncpg",
            ">= 70%",
            ours / raw >= THROUGHPUT_RATIO["appends"],
        )
    )
    relayed, raw_relay, count = asyncio.run(spine.relay(db, kafka))
    report.figures.append(
        Figure(
            f"outbox -> Kafka relay ({count:,} events)",
            relayed,
            "ev/s",
            raw_relay,
            "raw aiokafka, acks=all, idempotent",
            ">= 50%",
            relayed / raw_relay >= THROUGHPUT_RATIO["relay"],
        )
    )
    report.figures.append(
        Figure(
            "same command workload on the eventsourcing library (PostgreSQL): ours through the"
            " services' command path (group commit)",
            grouped,
            "cmd/s",
            theirs,
            "eventsourcing 9.x",
            ">= 5x",
            grouped / theirs >= 5,
        )
    )
    return report


def consumer_figures(db: str, kafka: str, events: int, repeats: int) -> Report:
    """Each service's consumer and rebuild beside the raw aiokafka + asyncpg baseline."""
    report = Report()
    rows = [asyncio.run(consumers.per_service(db, kafka, events)) for _ in range(repeats)]
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
        report.figures.append(
            Figure(
                f"consumer events/s, {name} (dedupe + state change + offset commit)",
                rate,
                "ev/s",
                base,
                "raw aiokafka + asyncpg",
                ">= 40% and >= 10,000/s",
                rate / base >= THROUGHPUT_RATIO["consumer"] and rate >= 10_000,
            )
        )
        replay, base_replay = float(row["rebuild"]), float(row["raw_replay"])
        report.figures.append(
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
        report.notes.append(
            f"Rebuild ceiling, {name}: one Python process reading the topic with aiokafka"
            f" and nothing else, {float(row['fetched']):,.0f} ev/s; reading and validating"
            f" each event (envelope, payload) as a rebuild must, {float(row['decoded']):,.0f}"
            " ev/s, before any write (medians, same run)."
        )
    return report


def end_to_end_figures(
    procs: dict[str, ServiceProcess], kafka: str, count: int, concurrency: int
) -> Report:
    """Journeys/s on the real service processes, and the latency at half that load."""
    report = Report()
    e2e = asyncio.run(journeys.end_to_end(procs, kafka, count, concurrency))
    report.latencies = e2e.latencies_ms
    report.figures.append(
        Figure(
            f"end-to-end journeys/s (verify -> apply -> produce -> mail -> activate ->"
            f" notified), concurrency {concurrency}, {os.cpu_count()} cores",
            e2e.journeys_per_s,
            "journeys/s",
            goal="absolute",
        )
    )
    for q in (50, 95, 99):
        report.figures.append(
            Figure(
                f"p{q} of it until scheduled (relay, Kafka, notification consumer)",
                percentile(e2e.scheduled_ms, q),
                "ms",
            )
        )
    for q in (50, 95, 99):
        value = percentile(report.latencies, q)
        report.figures.append(
            Figure(
                f"p{q} command accepted -> NotificationSent at {e2e.paced_per_s:.1f}"
                f" journeys/s ({len(report.latencies)} messages)",
                value,
                "ms",
                goal="p99 <= 100 ms" if q == 99 else "",
                met=value <= 100 if q == 99 else None,
            )
        )
    return report


def memory_figures(procs: dict[str, ServiceProcess], kafka: str, db: str, history: int) -> Report:
    """Each service's RSS after consuming ``history`` events, measured at half and at all."""
    report = Report()
    # Twice half the history: the second half shows whether memory still grows.
    started = time.monotonic()
    start, half, first = asyncio.run(journeys.memory_after_history(procs, kafka, db, history // 2))
    _, after, second = asyncio.run(
        journeys.memory_after_history(
            procs, kafka, db, history - history // 2, first_citizen=2_000_000
        )
    )
    for name in after:
        report.figures.append(
            Figure(
                f"RSS of {name} after {first + second:,} events consumed (at start"
                f" {start[name]:.0f} MB, after {first:,}: {half[name]:.0f} MB)",
                after[name],
                "MB",
                goal="<= 200 MB",
                met=after[name] <= 200,
            )
        )
    report.notes.append(
        f"The {first + second:,} events of history were made, published and consumed by"
        f" every service in {(time.monotonic() - started) / 60:.1f} min."
    )
    return report


def scaling_figures(count: int, concurrency: int, events: int) -> Report:
    """Journeys/s and events applied/s with 1, 2 and 4 processes of each service on a secured
    three-broker cluster, each beside one process in the same run."""
    report = Report()
    results = scaling.run(count, concurrency, events)
    one = results[0]
    for result in results:
        report.figures.append(
            Figure(
                f"journeys/s, {result.replicas} process(es) of each service, 3 brokers"
                f" (SASL, RF 3), concurrency {concurrency}",
                result.journeys_per_s,
                "journeys/s",
                one.journeys_per_s,
                "1 process of each, same run",
                "measured",
            )
        )
        report.figures.append(
            Figure(
                f"events applied/s over every service, {result.replicas} process(es) of each"
                f" ({events:,} journey events)",
                result.events_per_s,
                "ev/s",
                one.events_per_s,
                "1 process of each, same run",
                "measured",
            )
        )
    per_partition = one.events_per_s / len(SERVICES)
    needed = scaling.partitions_for(PROVINCE_PEAK_EVENTS_PER_S, per_partition, HEADROOM)
    report.notes.append(
        f"Partitions on paper: one process of a group applies about {per_partition:,.0f}"
        f" ev/s here (all services' rate with one process each, {one.events_per_s:,.0f} ev/s,"
        f" over {len(SERVICES)} groups), which bounds one partition (a group reads it"
        f" with one process). A province's busiest topic at {PROVINCE_PEAK_EVENTS_PER_S:,}"
        f" ev/s with {HEADROOM}x headroom needs ceil({PROVINCE_PEAK_EVENTS_PER_S:,} x"
        f" {HEADROOM} / {per_partition:,.0f}) partitions, at least the cluster's"
        f" {CLUSTER_PARTITIONS}: {needed}."
    )
    return report


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
    http_people: Annotated[
        int, typer.Option(min=200, help="Fresh citizens the HTTP section's command routes take.")
    ] = 3000,
    only: Annotated[
        list[str] | None,
        typer.Option(help=f"Run only these sections (repeatable): {', '.join(SECTIONS)}."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder of the report.")] = RESULTS,
    scaling_journeys: Annotated[int, typer.Option(min=10, help="Journeys per replica count.")] = 40,
    scaling_events: Annotated[
        int, typer.Option(min=500, help="Journey events per replica count.")
    ] = 6000,
) -> None:
    """Run every benchmark (or the sections named) and write the report."""
    sections = set(only or SECTIONS)
    if unknown := sections - set(SECTIONS):
        raise typer.BadParameter(f"unknown sections {sorted(unknown)}; known: {SECTIONS}")
    started = time.monotonic()
    report = Report()
    if sections & {"spine", "consumers"}:
        report.notes.append(f"Throughput rows are medians of {repeats} alternated runs.")
    if sections - {"scaling"}:
        with infrastructure() as infra:
            db, kafka = infra.database_url, infra.bootstrap_servers
            if "spine" in sections:
                report.add(spine_figures(db, kafka, commands, concurrency, repeats))
            if "consumers" in sections:
                report.add(consumer_figures(db, kafka, consumer_events, repeats))
            if "http" in sections:
                # Service processes of its own: the later sections measure fresh ones.
                with (
                    tempfile.TemporaryDirectory(prefix="shebao-bench-logs-") as logs,
                    services_on_free_ports(infra, Path(logs)) as procs,
                ):
                    figures, notes = http_bench.http_figures(procs, db, Path(logs), http_people)
                    report.add(Report(figures=figures, notes=notes))
            if sections & {"journeys", "memory"}:
                with (
                    tempfile.TemporaryDirectory(prefix="shebao-bench-logs-") as logs,
                    services_on_free_ports(infra, Path(logs)) as procs,
                ):
                    if "journeys" in sections:
                        report.add(
                            end_to_end_figures(procs, kafka, journey_count, journey_concurrency)
                        )
                    if "memory" in sections:
                        report.add(memory_figures(procs, kafka, db, history))
    if "scaling" in sections:
        report.add(scaling_figures(scaling_journeys, journey_concurrency, scaling_events))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    name = stamp if sections == set(SECTIONS) else f"{stamp}-{'-'.join(sorted(sections))}"
    out.mkdir(parents=True, exist_ok=True)
    pictures = plots(report.figures, report.latencies, out, name)
    minutes = (time.monotonic() - started) / 60
    chosen = "".join(f" --only {s}" for s in SECTIONS if s in sections and only)
    text = "\n".join(
        [
            f"# Benchmarks, {stamp}",
            "",
            f"`.venv/bin/python -m bench --commands {commands} --concurrency {concurrency}"
            f" --consumer-events {consumer_events} --journeys {journey_count}"
            f" --journey-concurrency {journey_concurrency} --history {history}"
            f" --repeats {repeats} --http-people {http_people}"
            f" --scaling-journeys {scaling_journeys}"
            f" --scaling-events {scaling_events}{chosen}`"
            f" on {platform.machine()} with {os.cpu_count()} cores (Kafka, PostgreSQL and the"
            f" services share them), {minutes:.1f} min. Every baseline was measured in this run.",
            "",
            table(report.figures),
            "",
            *(f"![{p.stem}]({p.name})" for p in pictures),
            "",
            *(f"- {note}" for note in report.notes),
            "",
        ]
    )
    path = out / f"{name}.md"
    path.write_text(text)
    print(table(report.figures))
    print(f"\nreport: {path}")


if __name__ == "__main__":
    typer.run(main)
