"""The HTTP edges under load: each hot route driven by wrk (a C load generator in its own
process, so the services keep the CPU), beside two same-run baselines: the event store's own
command rate and a bare FastAPI + asyncpg route doing one query.

Every command route gets fresh inputs, made before its timed window: the chain a citizen
follows (register -> verify -> apply -> produce -> mail -> deliver -> activate by each channel
-> change the password -> pay) is run route after route, each route's answers feeding the next.
Each route is run twice: at concurrency 32 as fast as it goes (req/s), then paced at half that
rate (p50/p95/p99).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench import bare, spine
from bench.common import Figure
from bench.identity import citizens
from deploy.demo.citizens import Citizen, face_check_for
from deploy.endpoints import KEYS
from deploy.paths import free_port
from deploy.stack import ServiceProcess

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
    )


def measure(name: str, kind: str, base: str, calls: list[Call], capture: bool = False) -> Route:
    """A command route: most calls at full load, the rest paced at half the rate measured."""
    cut = len(calls) - int(len(calls) * PACED_SHARE)
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
    full = wrk(base, many, seconds=READ_S)
    paced = _paced(base, many, full.rate, capture=False)
    return _said(Route(name, kind, full, paced))


def _cycle(calls: list[Call], count: int) -> Iterator[Call]:
    for n in range(count):
        yield calls[n % len(calls)]


def _tagged(
    answers: dict[str, dict[str, Any]], prefix: str
) -> Iterable[tuple[int, dict[str, Any]]]:
    for tag, body in answers.items():
        if tag.startswith(prefix):
            yield int(tag[len(prefix) :]), body


def _key(name: str, token: str | None = None) -> dict[str, str]:
    headers = {"X-Api-Key": KEYS.get(name, name)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _once() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(16)}


@dataclass
class Holder:
    """A citizen on their way: who they are and what the platform answered them."""

    citizen: Citizen
    person_id: str = ""
    token: str = ""
    card_id: str = ""


def citizen_routes(procs: dict[str, ServiceProcess], database_url: str, people: int) -> list[Route]:
    """The chain of command routes on fresh citizens, then the read routes."""
    identity, card, activation = (procs[n].url for n in ("identity", "card", "activation"))
    holders = [Holder(c) for c in citizens(people)]
    routes: list[Route] = []

    def step(name: str, base: str, calls: list[Call], capture: bool = True) -> Route:
        route = measure(name, "command", base, calls, capture)
        routes.append(route)
        return route

    registered = step(
        "POST /v1/persons (register, operator)",
        identity,
        [
            Call(
                "POST",
                "/v1/persons",
                {**_key("operator"), **_once()},
                h.citizen.registration(),
                f"r{n}",
            )
            for n, h in enumerate(holders)
        ],
    )
    holders = [holders[n] for n, _ in sorted(_tagged(registered.full.answers, "r"))]
    verified = step(
        "POST /v1/verifications (face check, online hall)",
        identity,
        [
            Call(
                "POST",
                "/v1/verifications",
                {**_key("channel"), **_once()},
                {
                    "name": h.citizen.name,
                    "id_number": h.citizen.id_number,
                    "face_check": face_check_for(h.citizen).model_dump(mode="json"),
                },
                f"v{n}",
            )
            for n, h in enumerate(holders)
        ],
    )
    for n, body in _tagged(verified.full.answers, "v"):
        holders[n].person_id, holders[n].token = body["person_id"], body["citizen_token"]
    holders = [h for h in holders if h.token]
    applied = step(
        "POST /v1/applications (apply, citizen signed in)",
        card,
        [
            Call(
                "POST",
                "/v1/applications",
                {**_key("channel", h.token), **_once()},
                {
                    "person_id": h.person_id,
                    "region": h.citizen.region,
                    "delivery": "mail",
                    "photo_ref": f"photo-{n}",
                },
                f"a{n}",
            )
            for n, h in enumerate(holders)
        ],
    )
    for n, body in _tagged(applied.full.answers, "a"):
        holders[n].card_id = body["card_id"]
    holders = [h for h in holders if h.card_id]
    for name, key, path, body in (
        (
            "produced (printing agency)",
            "agency",
            "production",
            {"card_number": "", "chip_serial": ""},
        ),
        ("mailed (courier)", "courier", "mailing", {"courier": "EMS", "tracking_number": ""}),
        ("delivered (courier)", "courier", "delivery", {}),
    ):
        done = step(
            f"POST /v1/cards/{{id}}/{path} ({name})",
            card,
            [
                Call(
                    "POST",
                    f"/v1/cards/{h.card_id}/{path}",
                    {**_key(key), **_once()},
                    _filled(body, n),
                    f"c{n}",
                )
                for n, h in enumerate(holders)
            ],
        )
        holders = [holders[n] for n, _ in sorted(_tagged(done.full.answers, "c"))]
    asyncio.run(_until_activation_knows(database_url, [h.card_id for h in holders]))
    ways: tuple[tuple[str, str, str, dict[str, Any], bool], ...] = (
        ("window, ID checked", "dev-window", "/v1/activations", {"id_checked": True}, False),
        ("online hall, signed in", "channel", "/v1/activations", {}, True),
        ("bank outlet, ID checked", "dev-bank", "/v1/activations", {"id_checked": True}, False),
        (
            "hospital registration",
            "dev-hospital",
            "/v1/hospital/registrations",
            {"kind": "outpatient"},
            False,
        ),
    )
    active: list[Holder] = []
    for w, (name, key, path, extra, signed) in enumerate(ways):
        mine = holders[w :: len(ways)]
        done = step(
            f"POST {path} (activate: {name})",
            activation,
            [
                Call(
                    "POST",
                    path,
                    {**_key(key, h.token if signed else None), **_once()},
                    {"card_id": h.card_id, "person_id": h.person_id, **extra},
                    f"x{n}",
                )
                for n, h in enumerate(mine)
            ],
        )
        active += [mine[n] for n, _ in sorted(_tagged(done.full.answers, "x"))]
    changed = step(
        "POST /v1/cards/{id}/password (change, window; argon2)",
        activation,
        [
            Call(
                "POST",
                f"/v1/cards/{h.card_id}/password",
                {**_key("dev-window"), **_once()},
                {"current_password": "123456", "new_password": "135792"},
                f"p{n}",
            )
            for n, h in enumerate(active)
        ],
    )
    paying = [active[n] for n, _ in sorted(_tagged(changed.full.answers, "p"))]
    step(
        "POST /v1/settlements/authorize (hospital settlement; argon2)",
        activation,
        [
            Call(
                "POST",
                "/v1/settlements/authorize",
                _key("dev-hospital"),
                {"card_id": h.card_id, "password": "135792"},
            )
            for h in paying
        ],
        capture=False,
    )
    routes.append(
        measure_read(
            "GET /v1/cards/{id} (citizen signed in, own card)",
            card,
            [Call("GET", f"/v1/cards/{h.card_id}", _key("channel", h.token)) for h in active],
        )
    )
    routes.append(
        measure_read(
            "GET /v1/cards/{id} (window: the read is recorded, PersonDataAccessed)",
            card,
            [Call("GET", f"/v1/cards/{h.card_id}", _key("dev-window")) for h in active],
            kind="command",
        )
    )
    routes.append(
        measure_read(
            "GET /v1/persons/{id}/events (card, citizen signed in)",
            card,
            [
                Call("GET", f"/v1/persons/{h.person_id}/events", _key("channel", h.token))
                for h in active
            ],
        )
    )
    return routes


def _filled(body: dict[str, Any], n: int) -> dict[str, Any]:
    """A card step's body with its numbers made for card ``n``."""
    numbers = {
        "card_number": f"S{n:09d}",
        "chip_serial": f"{n:016X}",
        "tracking_number": f"EMS{n:010d}",
    }
    return {k: numbers.get(k, v) for k, v in body.items()}


async def _until_activation_knows(
    database_url: str, card_ids: list[str], wait_s: float = 120
) -> None:
    """Until the activation service has learned every card is delivered (from card.events)."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(int(wait_s * 10)):
            known = await conn.fetchval(
                "SELECT count(*) FROM activation.known_cards"
                " WHERE card_id = ANY($1::text[]) AND status = 'delivered'",
                card_ids,
            )
            if known >= len(card_ids):
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise RuntimeError(f"activation learned {known} of {len(card_ids)} delivered cards")


@contextlib.contextmanager
def bare_route(database_url: str, log_dir: Path) -> Iterator[str]:
    """The bare FastAPI + asyncpg app in a process of its own; its base URL."""
    asyncio.run(bare.fill(database_url))
    port = free_port()
    proc = ServiceProcess(
        "bare",
        port,
        {**os.environ, "DATABASE_URL": database_url},
        log_dir / "bare.log",
        command=[sys.executable, "-m", "bench.bare", str(port)],
    )
    proc.start()
    try:
        proc.wait_ready(60)
        yield proc.url
    finally:
        proc.stop()


def http_figures(
    procs: dict[str, ServiceProcess], database_url: str, log_dir: Path, people: int
) -> tuple[list[Figure], list[str]]:
    """Every hot route beside its baseline: the event store's command rate (concurrency 32,
    measured before and after the routes) or the bare route's reads."""
    if shutil.which("wrk") is None:
        raise RuntimeError("the HTTP benchmark needs wrk: make bench installs it (deploy/need.sh)")
    before, _ = asyncio.run(spine.appends(database_url, 3000, CONNECTIONS))
    with bare_route(database_url, log_dir) as bare_url:
        base_read = measure_read(
            "bare", bare_url, [Call("GET", f"/cards/c{n}", {}) for n in range(bare.ROWS)]
        )
    routes = citizen_routes(procs, database_url, people)
    after, _ = asyncio.run(spine.appends(database_url, 3000, CONNECTIONS))
    store = (before + after) / 2
    figures: list[Figure] = []
    notes = [
        f"HTTP baselines: the event store's command rate at concurrency {CONNECTIONS},"
        f" {before:,.0f} cmd/s before the routes and {after:,.0f} after (their mean is the"
        f" baseline); the bare route {base_read.full.rate:,.0f} req/s (p99"
        f" {base_read.paced.p99_ms if base_read.paced else float('nan'):.1f} ms at half load)."
    ]
    for route in routes:
        command = route.kind == "command"
        baseline = store if command else base_read.full.rate
        share = 0.5 if command else 0.7
        figures.append(
            Figure(
                f"{route.name}, req/s at concurrency {CONNECTIONS}"
                f" ({route.full.requests:,} requests, {route.full.errors} errors)",
                route.full.rate,
                "req/s",
                baseline,
                "event store cmd/s" if command else "bare FastAPI + asyncpg",
                f">= {share:.0%}",
                route.full.rate / baseline >= share and route.full.errors == 0,
            )
        )
        if route.paced is not None:
            paced = route.paced
            figures.append(
                Figure(
                    f"  p99 at {paced.rate:,.0f} req/s, half load (p50 {paced.p50_ms:.1f},"
                    f" p95 {paced.p95_ms:.1f} ms; {paced.errors} errors)",
                    paced.p99_ms,
                    "ms",
                    goal="<= 50 ms",
                    met=paced.p99_ms <= 50 and paced.errors == 0,
                )
            )
    return figures, notes
