"""``shebao status``: is each part of the stack up (Kafka, PostgreSQL, the four services)."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from rich.table import Table

from deploy import exits
from deploy.paths import port_open
from deploy.state import console, endpoints, infrastructure_urls, read_state


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the health as JSON.")] = False,
) -> None:
    """Each component's health: Kafka, PostgreSQL and the four services."""
    state = read_state()
    rows = parts(state)
    healthy = all(ok for _, _, ok, _ in rows)
    if as_json:
        shown = [{"component": c, "address": a, "ok": ok, "health": h} for c, a, ok, h in rows]
        print(json.dumps({"stack_started": state is not None, "healthy": healthy, "parts": shown}))
        raise typer.Exit(exits.OK if healthy else exits.NO)
    table = Table(title="shebao status" + ("" if state else " (no stack started by shebao up)"))
    for column in ("component", "address", "health"):
        table.add_column(column, overflow="fold")
    for component, address, ok, health in rows:
        table.add_row(component, address, f"[green]{health}[/]" if ok else f"[red]{health}[/]")
    console.print(table)
    raise typer.Exit(exits.OK if healthy else exits.NO)


def parts(state: dict[str, Any] | None) -> list[tuple[str, str, bool, str]]:
    """(component, address, healthy, what it says) for Kafka, PostgreSQL and each service."""
    rows: list[tuple[str, str, bool, str]] = []
    _, bootstrap = infrastructure_urls()
    brokers = bootstrap.split(",")
    kafka = (
        [("Kafka", brokers[0])]
        if len(brokers) == 1
        else [(f"Kafka node {n}", address) for n, address in enumerate(brokers, start=1)]
    )
    for name, address in (*kafka, ("PostgreSQL", pg_address())):
        host, port = address.rsplit(":", 1)
        reachable = port_open(int(port), host)
        rows.append((name, address, reachable, "up" if reachable else "down"))
    replicas = (state or {}).get("replicas", {})
    for name, url in (*endpoints().all().items(), *replicas.items()):
        ok, detail = ready(url)
        rows.append((name, url, ok, detail))
    return rows


def kafka_address(state: dict[str, Any] | None = None) -> str:
    """Kafka's first bootstrap address: the environment's, the running stack's, or default."""
    _, bootstrap = infrastructure_urls()
    return bootstrap.split(",")[0]


def pg_address() -> str:
    database_url, _ = infrastructure_urls()
    where = urlsplit(database_url)
    return f"{where.hostname or '127.0.0.1'}:{where.port or 5432}"


def ready(url: str) -> tuple[bool, str]:
    try:
        response = httpx.get(f"{url}/ready", timeout=3)
    except httpx.HTTPError:
        return False, "down"
    if response.status_code == 200:
        return True, "ready"
    return False, f"not ready: {response.json().get('details')}"


def parts_up(state: dict[str, Any] | None, announced: set[str]) -> list[str]:
    """The parts of a starting stack that answer now and were not announced yet."""
    found = []
    for name, address in (("Kafka", kafka_address(state)), ("PostgreSQL", pg_address())):
        host, port = address.rsplit(":", 1)
        if name not in announced and port_open(int(port), host):
            found.append(name)
    for name, url in endpoints().all().items():
        if name not in announced and ready(url)[0]:
            found.append(name)
    return found
