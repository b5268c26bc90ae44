"""Where the cores go: CPU seconds of the stack's processes by kind (each service, PostgreSQL,
Kafka, the load generator), read from /proc, so that a route's cost is seen across the whole
platform and not only in the process that answers it."""

from __future__ import annotations

import os
import resource
from collections import defaultdict
from pathlib import Path

#: A process's kind by what its command line holds (first match wins).
KINDS = (
    ("services.identity", "identity"),
    ("services.card", "card"),
    ("services.activation", "activation"),
    ("services.notification", "notification"),
    ("bench.bare", "bare"),
    ("kafka.Kafka", "kafka"),
    ("postgres", "postgres"),
)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) so far of every process of a known kind, summed by kind;
    ``wrk``: this process's children that ended (the bench starts no other short-lived ones
    while a route runs; with BENCH_PROFILE, py-spy too)."""
    totals: dict[str, float] = defaultdict(float)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        kind = next((k for marker, k in KINDS if marker in command), None)
        if kind is None:
            continue
        # After the command name in parentheses: state, then utime and stime at 11 and 12.
        fields = stat.rpartition(")")[2].split()
        totals[kind] += (int(fields[11]) + int(fields[12])) / TICKS
    # The load generator: each wrk run is a child of this process that has ended (and been
    # waited for) by the next reading, so /proc no longer shows it: its CPU is counted here.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    totals["wrk"] = children.ru_utime + children.ru_stime
    return dict(totals)


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each kind spent between two readings (those that spent any)."""
    return {
        kind: after[kind] - before.get(kind, 0.0)
        for kind in after
        if after[kind] - before.get(kind, 0.0) > 0
    }


def per_request(cpu: dict[str, float], requests: int) -> str:
    """ "card 0.9, postgres 1.1, ..." (ms of CPU per request), the largest first."""
    if not requests:
        return "no requests"
    shares = sorted(cpu.items(), key=lambda kv: -kv[1])
    total = sum(cpu.values()) * 1000 / requests
    parts = ", ".join(f"{kind} {seconds * 1000 / requests:.2f}" for kind, seconds in shares)
    return f"{total:.2f} ms of CPU per request ({parts})"
