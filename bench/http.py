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
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import bare, spine
from bench.common import Figure
from bench.cpu import per_request
from bench.identity import citizens
from bench.wrk import CONNECTIONS, PACED_SHARE, SERVERS, Call, Route, measure, measure_read
from deploy.demo.citizens import Citizen, face_check_for
from deploy.demo.scenes import headers as _key
from deploy.stack import ServiceProcess


def _tagged(
    answers: dict[str, dict[str, Any]], prefix: str
) -> Iterable[tuple[int, dict[str, Any]]]:
    for tag, body in answers.items():
        if tag.startswith(prefix):
            yield int(tag[len(prefix) :]), body


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


def _grouped(service: str, url: str) -> str:
    """How the service's commands shared transactions over the run (its /metrics)."""
    text = httpx.get(f"{url}/metrics/", timeout=10).text
    found = {
        name: sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M))
        for name in (
            "shebao_commands_per_transaction_sum",
            "shebao_commands_per_transaction_count",
            "shebao_group_commit_fallbacks_total",
        )
    }
    commands, batches, fallbacks = found.values()
    return (
        f"{service}: {commands:,.0f} commands group-committed in {batches:,.0f} transactions"
        f" ({commands / max(batches, 1):.1f} per transaction); {fallbacks:,.0f} shared"
        " transactions failed and had each command run again alone."
    )


def http_figures(
    procs: dict[str, ServiceProcess], database_url: str, log_dir: Path, people: int
) -> tuple[list[Figure], list[str]]:
    """Every hot route beside its baseline: the event store's command rate (concurrency 32,
    measured before and after the routes) or the bare route's reads."""
    if shutil.which("wrk") is None:
        raise RuntimeError("the HTTP benchmark needs wrk: make bench installs it (deploy/need.sh)")
    before_alone, before, _ = asyncio.run(spine.appends(database_url, 3000, CONNECTIONS))
    bare_calls = [Call("GET", f"/cards/c{n}", {}) for n in range(bare.ROWS)]
    with bare.serving(database_url, log_dir) as bare_url:
        base_read = measure_read("bare", bare_url, bare_calls)
        bare_command = measure("bare command", "command", bare_url, bare.store_commands(False))
    with bare.serving(database_url, log_dir, edges=True) as edged_url:
        edged = measure_read("bare route behind the platform's edges", edged_url, bare_calls)
        edged_command = measure("edged command", "command", edged_url, bare.store_commands(True))
    for proc in procs.values():
        if proc.process is not None:
            SERVERS[proc.url] = proc.process.pid
    routes = citizen_routes(procs, database_url, people)
    after_alone, after, _ = asyncio.run(spine.appends(database_url, 3000, CONNECTIONS))
    store = (before + after) / 2
    figures = [
        Figure(
            f"the event store's command behind a bare FastAPI route (no edges, no"
            f" authentication), req/s at concurrency {CONNECTIONS}: what HTTP alone costs a"
            f" command",
            bare_command.full.rate,
            "req/s",
            store,
            "event store cmd/s",
        ),
        Figure(
            f"the same behind the platform's edges, with an Idempotency-Key (its claim and"
            f" kept answer), req/s at concurrency {CONNECTIONS}",
            edged_command.full.rate,
            "req/s",
            store,
            "event store cmd/s",
        ),
        Figure(
            f"the bare route behind the platform's edges (correlation, metrics, spans,"
            f" Idempotency-Key, error shapes; no authentication), req/s at concurrency"
            f" {CONNECTIONS}: what the edges alone cost a read",
            edged.full.rate,
            "req/s",
            base_read.full.rate,
            "bare FastAPI + asyncpg",
        ),
    ]
    notes = [
        f"HTTP baselines: the event store's command rate at concurrency {CONNECTIONS} through"
        f" the services' command path (group commit), {before:,.0f} cmd/s before the routes"
        f" and {after:,.0f} after (their mean is the baseline; one transaction per command:"
        f" {before_alone:,.0f} and {after_alone:,.0f});"
        f" the bare route {base_read.full.rate:,.0f} req/s (p99"
        f" {base_read.paced.p99_ms if base_read.paced else float('nan'):.1f} ms at half load).",
        *(
            _grouped(name, proc.url)
            for name, proc in procs.items()
            if name in ("card", "activation")
        ),
        "Where the cores went at full load (CPU of each kind of process over the route's run,"
        " per request answered: the route's own service, the services its events reach,"
        " PostgreSQL, Kafka, wrk):",
        *(
            f"  {route.name}: {per_request(route.full.cpu, route.full.requests)}"
            for route in (bare_command, edged_command, base_read, edged, *routes)
        ),
    ]
    for route in routes:
        command = route.kind == "command"
        baseline = store if command else base_read.full.rate
        share = 0.5 if command else 0.7
        figures.append(
            Figure(
                f"{route.name}, req/s at concurrency {CONNECTIONS}"
                f" ({route.full.requests:,} requests at full load, {route.full.errors} errors"
                + (
                    f"; a command route keeps {PACED_SHARE:.0%} of its fresh inputs for the"
                    " half-load run)"
                    if command
                    else ")"
                ),
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
