"""The HTTP benchmark's load: requests sent once each by wrk (``bench/http.lua``), timed on
wrk's side, at full load and paced at half of it; a route's figures and its answers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import cpu_seconds, spent

LUA = Path(__file__).with_name("http.lua")
CONNECTIONS = 32
THREADS = 2
#: A timed window ends when its inputs are sent, or after this long.
WINDOW_CAP_S = 60
#: How long the paced (half-load) run lasts, at most.
PACED_S = 4.0
#: Inputs kept for the paced run, as a share of a route's inputs.
PACED_SHARE = 0.25
CORRELATION = "X-Correlation-Id"
READS = 20_000
READ_S = 8
#: ``BENCH_PROFILE=<folder>``: each route's full-load window is sampled with py-spy in the
#: process serving it, as folded stacks in ``<folder>/<route>.txt`` ("profile before changing").
PROFILE_DIR = os.environ.get("BENCH_PROFILE")
#: The process serving each base URL (for the profile).
SERVERS: dict[str, int] = {}


@contextlib.contextmanager
def profiled(name: str, base: str) -> Iterator[None]:
    """Sample the process serving ``base`` while the block runs, when BENCH_PROFILE says so."""
    if not PROFILE_DIR or base not in SERVERS:
        yield
        return
    out = Path(PROFILE_DIR) / f"{re.sub(r'[^A-Za-z0-9]+', '-', name).strip('-')}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "-p", str(SERVERS[base]), "-r", "200", "-f", "raw"]
    with subprocess.Popen(
        [*command, "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as spying:
        try:
            yield
        finally:
            spying.send_signal(signal.SIGINT)  # py-spy writes its samples and stops
            spying.wait(60)


@dataclass(frozen=True)
class Call:
    """One request: method, path, headers, JSON body; ``tag`` comes back with its answer."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    tag: str = ""

    def line(self) -> str:
        """The request as a line of the wrk script's input."""
        headers = (
            {**self.headers, "Content-Type": "application/json"} if self.body else self.headers
        )
        if self.tag:
            headers = {**headers, CORRELATION: self.tag}
        joined = "\x1e".join(f"{k}: {v}" for k, v in headers.items())
        body = json.dumps(self.body, separators=(",", ":")) if self.body is not None else ""
        return f"{self.method}\t{self.path}\t{joined}\t{body}"


@dataclass
class Run:
    """What one wrk run measured, and the 2xx answers by tag when asked for."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The first refusals wrk saw, to say why a route had errors.
    said: str = ""
    #: CPU seconds each kind of process spent during the run (``bench.cpu``).
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Route:
    """A route's figures: at full load, and paced at half of it."""

    name: str
    kind: str  # "command" or "read"
    full: Run
    paced: Run | None


def wrk(
    base: str,
    calls: list[Call],
    *,
    connections: int = CONNECTIONS,
    seconds: float = WINDOW_CAP_S,
    pace_ms: float | None = None,
    capture: bool = False,
) -> Run:
    """Send ``calls`` once each (stopping after ``seconds``) with wrk; its figures and answers."""
    with tempfile.TemporaryDirectory(prefix="shebao-wrk-") as tmp:
        cpu_before = cpu_seconds()
        source, out = Path(tmp) / "requests", Path(tmp) / "run"
        source.write_text("".join(f"{c.line()}\n" for c in calls))
        threads = min(THREADS, connections)
        pace = f"{pace_ms:.3f}" if pace_ms else ""
        args = [str(source), str(threads), str(out), pace, "1" if capture else "0"]
        command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s"]
        command += ["--timeout", "10s", "-s", str(LUA), base, "--", *args]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            # wrk runs its whole -d duration: interrupted once every thread sent its share
            # and had every answer.
            while proc.poll() is None and len(list(Path(tmp).glob("run.stats.*"))) < threads:
                time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        cpu = spent(cpu_before, cpu_seconds())
        if proc.returncode != 0 or not stdout.strip():
            raise RuntimeError(f"wrk failed: {stderr[-2000:]}")
        figures = json.loads(stdout.strip().splitlines()[-1])
        stats = [p.read_text().split() for p in Path(tmp).glob("run.stats.*")]
        answers: dict[str, dict[str, Any]] = {}
        for path in Path(tmp).glob("run.answers.*"):
            for line in path.read_text().splitlines():
                tag, _, body = line.partition("\t")
                answers[tag] = json.loads(body)
    timed = [(float(first), float(last)) for _, first, last in stats if float(first)]
    if len(stats) == threads and timed:  # every thread sent its share: timed by the threads
        requests = sum(int(answered) for answered, _, _ in stats)
        elapsed = max(last for _, last in timed) - min(first for first, _ in timed)
    else:  # cut by -d: wrk's own count and duration
        requests, elapsed = int(figures["requests"]), float(figures["seconds"])
    return Run(
        requests=requests,
        seconds=elapsed,
        errors=int(figures["status_errors"]) + int(figures["socket_errors"]),
        p50_ms=float(figures["p50_ms"]),
        p95_ms=float(figures["p95_ms"]),
        p99_ms=float(figures["p99_ms"]),
        answers=answers,
        said=stderr.strip(),
        cpu=cpu,
    )


def measure(name: str, kind: str, base: str, calls: list[Call], capture: bool = False) -> Route:
    """A command route: most calls at full load, the rest paced at half the rate measured."""
    cut = len(calls) - int(len(calls) * PACED_SHARE)
    with profiled(name, base):
        full = wrk(base, calls[:cut], capture=capture)
    rest = calls[cut:]
    paced = _paced(base, rest, full.rate, capture) if rest and full.rate else None
    if paced is not None:
        full.answers.update(paced.answers)
    return _said(Route(name, kind, full, paced))


def _said(route: Route) -> Route:
    """Say how a route went, as it goes (a benchmark runs for minutes)."""
    full, paced = route.full, route.paced
    print(
        f"{route.name}: {full.rate:,.0f} req/s ({full.requests} answered, {full.errors} errors)"
        + (f"; paced {paced.rate:,.0f} req/s, p99 {paced.p99_ms:.1f} ms" if paced else "")
        + (
            f"\n  refused: {(full.said or (paced.said if paced else ''))[:300]}"
            if full.said
            else ""
        ),
        file=sys.stderr,
    )
    return route


def _paced(base: str, calls: list[Call], rate: float, capture: bool) -> Run:
    """``calls`` at half ``rate``: few connections, each waiting its turn."""
    half = rate / 2
    # Each connection waits most of its turn, so its own answer times change the rate little.
    connections = max(2, min(CONNECTIONS // 2, int(half / 20)))
    calls = calls[: max(1, int(half * PACED_S))]
    return wrk(
        base, calls, connections=connections, pace_ms=1000 * connections / half, capture=capture
    )


def measure_read(name: str, base: str, calls: list[Call], kind: str = "read") -> Route:
    """A GET route: repeated for a fixed window at full load, then paced. (A staff read of a
    person's data records who looked: a command in cost, ``kind`` says so.)"""
    many = list(_cycle(calls, READS))
    with profiled(name, base):
        full = wrk(base, many, seconds=READ_S)
    paced = _paced(base, many, full.rate, capture=False)
    return _said(Route(name, kind, full, paced))


def _cycle(calls: list[Call], count: int) -> Iterator[Call]:
    for n in range(count):
        yield calls[n % len(calls)]
