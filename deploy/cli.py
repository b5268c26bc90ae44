"""The ``shebao`` command: run the local stack, look at it, drive a demo through it."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from deploy import kafka
from deploy.demo import Endpoints, Journey, person_timeline, run_demo
from deploy.paths import env_port, port_open, shebao_home
from deploy.showcase import run_showcase
from deploy.stack import DEFAULT_PORTS, SERVICES, Stack, StackError, start_infrastructure
from services.identity.importer import CsvHeaderError, ImportReport, Row, read_csv
from shared.db import SHARED_MIGRATIONS, create_pool, migrate
from shared.eventstore import Causation, EventStore
from shared.rebuild import RebuildReport
from shared.rebuild import rebuild as run_rebuild

app = typer.Typer(
    help="shebao: the social security card platform's local stack.", no_args_is_help=True
)
console = Console(soft_wrap=True)


def _run_dir() -> Path:
    run = shebao_home() / "run"
    run.mkdir(parents=True, exist_ok=True)
    return run


def _state_file() -> Path:
    return _run_dir() / "stack.json"


def _read_state() -> dict[str, Any] | None:
    path = _state_file()
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    if not _alive(int(state.get("pid", 0))):
        path.unlink(missing_ok=True)
        return None
    return state


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _endpoints() -> Endpoints:
    state = _read_state()
    urls = (
        state["services"]
        if state
        else {
            name: f"http://127.0.0.1:{env_port(f'{name.upper()}_PORT', port)}"
            for name, port in DEFAULT_PORTS.items()
        }
    )
    return Endpoints(**urls)


@app.command("fetch-kafka")
def fetch_kafka() -> None:
    """Download Apache Kafka's jars from Maven Central once (cached under .shebao/)."""
    libs = kafka.fetch_jars(shebao_home())
    console.print(f"Kafka {kafka.KAFKA_VERSION} jars in {libs}")


@app.command()
def up(
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Return once ready.")] = False,
) -> None:
    """Run Kafka, PostgreSQL and the four services; Ctrl-C stops everything."""
    if (state := _read_state()) is not None:
        console.print(
            f"[yellow]The stack already runs (pid {state['pid']}).[/] `shebao down` stops it."
        )
        raise typer.Exit(1)
    if detach:
        _start_detached()
    else:
        _run_foreground(show_events=os.environ.get("SHEBAO_SUPERVISED") != "1")


def _start_detached(timeout_s: float = 240) -> None:
    log = (_run_dir() / "stack.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "up"],
        env={**os.environ, "SHEBAO_SUPERVISED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    with console.status("Starting Kafka, PostgreSQL and the services..."):
        while (state := _read_state()) is None or state.get("status") != "ready":
            if proc.poll() is not None:
                console.print(f"[red]The stack failed to start; see {_run_dir() / 'stack.log'}[/]")
                raise typer.Exit(1)
            if time.monotonic() > deadline:
                proc.terminate()
                console.print(f"[red]Not ready after {timeout_s}s; see {_run_dir()}[/]")
                raise typer.Exit(1)
            time.sleep(0.3)
    _print_urls(state)


def _run_foreground(show_events: bool) -> None:
    home = shebao_home()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stack: Stack | None = None
    try:
        with console.status("Starting Kafka and PostgreSQL..."):
            infra = start_infrastructure(
                home,
                home / "data",
                kafka_port=env_port("KAFKA_PORT", 9092),
                controller_port=env_port("KAFKA_CONTROLLER_PORT", 9093),
                pg_port=env_port("SHEBAO_PG_PORT", 55432),
            )
            stack = Stack(infra)
        with console.status("Starting the services..."):
            stack.start_services(_run_dir() / "logs")
        state = {
            "pid": os.getpid(),
            "status": "ready",
            "kafka": infra.bootstrap_servers,
            "database": infra.database_url,
            "services": {n: p.url for n, p in stack.services.items()},
            "logs": str(_run_dir() / "logs"),
        }
        _state_file().write_text(json.dumps(state, indent=2))
        _print_urls(state)
        if show_events:
            console.print("[dim]Events as they flow (Ctrl-C stops everything):[/]")
            asyncio.run(_tail_events(infra.bootstrap_servers, stack))
        else:
            while all(p.process and p.process.poll() is None for p in stack.services.values()):
                time.sleep(1)
            console.print("[red]A service exited; stopping the stack.[/]")
    except KeyboardInterrupt:
        console.print("Stopping...")
    except StackError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    finally:
        if stack is not None:
            stack.stop()
        _state_file().unlink(missing_ok=True)
        console.print("Stopped.")


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _print_urls(state: dict[str, Any]) -> None:
    table = Table(title="shebao is up")
    table.add_column("component")
    table.add_column("address")
    table.add_column("OpenAPI")
    table.add_row("Kafka", state["kafka"], "")
    table.add_row("PostgreSQL", _hide_password(state["database"]), "")
    for name, url in state["services"].items():
        table.add_row(name, url, f"{url}/docs")
    console.print(table)
    console.print(f"Logs: {state['logs']}")


def _hide_password(url: str) -> str:
    if "@" not in url or ":" not in url.split("@")[0].split("//")[-1]:
        return url
    scheme, rest = url.split("//", 1)
    user = rest.split(":", 1)[0]
    return f"{scheme}//{user}:***@{rest.split('@', 1)[1]}"


async def _tail_events(bootstrap: str, stack: Stack) -> None:
    from aiokafka import AIOKafkaConsumer

    from shared.topics import EVENTS_TOPIC

    consumer = AIOKafkaConsumer(*EVENTS_TOPIC.values(), bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for r in records:
                    _print_event(r.value)
            dead = [
                n for n, p in stack.services.items() if p.process and p.process.poll() is not None
            ]
            if dead:
                console.print(f"[red]{', '.join(dead)} exited; see {_run_dir() / 'logs'}[/]")
                return
    finally:
        await consumer.stop()


def _print_event(raw: bytes | None) -> None:
    try:
        event = json.loads(raw or b"")
        console.print(
            f"[dim]{event['occurred_at'][11:23]}[/] [cyan]{event['producer']:<12}[/] "
            f"[bold]{event['event_type']:<18}[/] person …{event['person_id'][-12:]} "
            f"{event['stream_id']} v{event['stream_version']}"
        )
    except (ValueError, KeyError, TypeError):
        console.print("[red]unparseable record[/]")


@app.command()
def down(timeout_s: float = 60) -> None:
    """Stop a stack started with ``up --detach`` (data is kept)."""
    state = _read_state()
    if state is None:
        console.print("The stack is not running.")
        return
    os.kill(int(state["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    with console.status("Stopping..."):
        while _alive(int(state["pid"])) and time.monotonic() < deadline:
            time.sleep(0.2)
    if _alive(int(state["pid"])):
        console.print("[red]The stack did not stop in time.[/]")
        raise typer.Exit(1)
    console.print("Stopped.")


@app.command()
def status() -> None:
    """Each component's health."""
    state = _read_state()
    table = Table(title="shebao status" + ("" if state else " (no stack started by shebao up)"))
    table.add_column("component")
    table.add_column("address")
    table.add_column("health")
    healthy = True
    kafka_addr = state["kafka"] if state else f"127.0.0.1:{env_port('KAFKA_PORT', 9092)}"
    host, port = kafka_addr.split(",")[0].rsplit(":", 1)
    up_ = port_open(int(port), host)
    healthy &= up_
    table.add_row("Kafka", kafka_addr, "[green]up[/]" if up_ else "[red]down[/]")
    for name, url in _endpoints().all().items():
        ok, detail = _ready(url)
        healthy &= ok
        table.add_row(name, url, f"[green]{detail}[/]" if ok else f"[red]{detail}[/]")
    console.print(table)
    raise typer.Exit(0 if healthy else 1)


def _ready(url: str) -> tuple[bool, str]:
    try:
        response = httpx.get(f"{url}/ready", timeout=3)
    except httpx.HTTPError:
        return False, "down"
    if response.status_code == 200:
        return True, "ready"
    return False, f"not ready: {response.json().get('details')}"


@app.command()
def demo(
    citizens: Annotated[int, typer.Option(min=1, max=10_000, help="How many citizens.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="End with one line of JSON.")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 8,
    seed: Annotated[int | None, typer.Option(help="Seed for made-up citizens.")] = None,
) -> None:
    """Drive citizens through verify -> apply -> produce -> mail -> activate -> notified."""
    started = time.monotonic()
    journeys = asyncio.run(run_demo(_endpoints(), citizens, concurrency=concurrency, seed=seed))
    for journey in journeys:
        _print_journey(journey)
    showcase = asyncio.run(run_showcase(_endpoints(), None if seed is None else seed + 10_000))
    for line in showcase.lines:
        console.print(line, highlight=False)
    completed = sum(j.completed for j in journeys)
    summary = {
        "citizens": citizens,
        "completed": completed,
        "failed": citizens - completed,
        "seconds": round(time.monotonic() - started, 3),
        "failures": [j.failure for j in journeys if j.failure][:20],
        "showcase": showcase.outcomes,
    }
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        console.print(
            f"{completed}/{citizens} citizens completed the journey in {summary['seconds']}s"
        )
    raise typer.Exit(0 if completed == citizens else 1)


@app.command()
def timeline(
    person_id: Annotated[str, typer.Argument(help="The person's opaque id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the events as JSON.")] = False,
) -> None:
    """A person's whole history across the services, in order, with who did what through
    which channel (the right to inquire, Social Insurance Law art. 4)."""

    async def fetch() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await person_timeline(client, _endpoints(), person_id)

    entries = asyncio.run(fetch())
    if as_json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    if not entries:
        console.print(f"No events about person {person_id}.")
        raise typer.Exit(1)
    table = Table(title=f"timeline of person {person_id}")
    for column in ("when (UTC)", "service", "event", "record", "by", "channel", "details"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e["occurred_at"][:23].replace("T", " "),
            e["producer"],
            e["event_type"],
            f"{e['stream_id']} v{e['stream_version']}",
            e.get("actor") or "",
            e.get("channel") or "",
            _summary(e["payload"]),
        )
    console.print(table)


def _print_journey(journey: Journey) -> None:
    mark = "[green]✔[/]" if journey.completed else f"[red]✘ {journey.failure}[/]"
    console.print(
        f"{mark} citizen {journey.masked_id_number} person {journey.person_id} "
        f"({journey.seconds:.2f}s)"
    )
    for e in journey.timeline:
        console.print(
            f"    {e['occurred_at'][11:23]} {e['producer']:<12} {e['event_type']:<18} "
            f"{_summary(e['payload'])}",
            highlight=False,
        )


def _summary(payload: dict[str, Any]) -> str:
    keys = (
        "level",
        "channel",
        "region",
        "card_id",
        "kind",
        "reason",
        "courier",
        "tracking_number",
        "template",
    )
    return " ".join(f"{k}={payload[k]}" for k in keys if k in payload)


def _infrastructure_urls() -> tuple[str, str]:
    """The database URL and Kafka bootstrap of the environment, the running stack, or defaults."""
    state = _read_state() or {}
    database_url = (
        os.environ.get("DATABASE_URL")
        or state.get("database")
        or f"postgresql://postgres@127.0.0.1:{env_port('SHEBAO_PG_PORT', 55432)}/postgres"
    )
    bootstrap = (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        or state.get("kafka")
        or f"127.0.0.1:{env_port('KAFKA_PORT', 9092)}"
    )
    return database_url, bootstrap


import_app = typer.Typer(help="Load records the social insurance agency keeps.")
app.add_typer(import_app, name="import")


@import_app.command("persons")
def import_persons(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    partial: Annotated[
        bool, typer.Option(help="Import the valid rows even when some are rejected.")
    ] = False,
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Write every rejected row to this CSV.")
    ] = None,
) -> None:
    """Register insured persons from a CSV file (name,id_number,phone,region,guardian_id_number).

    Every row is checked first; unless --partial, one rejected row means nothing is imported.
    Importing the same file again changes nothing.
    """
    try:
        rows = list(read_csv(file.read_text(encoding="utf-8-sig")))
    except (CsvHeaderError, UnicodeDecodeError) as exc:
        console.print(f"[red]{getattr(exc, 'message', 'The file is not UTF-8 text.')}[/]")
        raise typer.Exit(2) from exc
    report = asyncio.run(_import_persons(rows, f"import-{file.name}", partial))
    console.print(
        f"{report.rows} rows: {report.registered} registered, {report.unchanged} already "
        f"registered as given, {len(report.rejected)} rejected."
    )
    if report.rejected:
        table = Table(title="rejected rows" + ("" if report.committed else ": nothing imported"))
        for column in ("line", "code", "reason"):
            table.add_column(column)
        for row in report.rejected[:50]:
            table.add_row(str(row.line), row.error.code, row.error.message)
        console.print(table)
        if len(report.rejected) > 50:
            console.print(f"... and {len(report.rejected) - 50} more (see --report).")
    if report_file is not None:
        with report_file.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "code", "reason"])
            writer.writerows((r.line, r.error.code, r.error.message) for r in report.rejected)
    raise typer.Exit(0 if report.committed else 1)


async def _import_persons(rows: list[Row], source: str, partial: bool) -> ImportReport:
    from rich.progress import Progress

    from services.identity.app import MIGRATIONS, build_identity
    from services.identity.settings import IdentitySettings

    settings = IdentitySettings()
    database_url, _ = _infrastructure_urls()
    pool = await create_pool(database_url, settings.db_schema or "identity", max_size=2)
    try:
        await migrate(pool, SHARED_MIGRATIONS, *MIGRATIONS)
        identity = build_identity(settings, pool, EventStore("identity"))
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Registering", total=len(rows))
            report: ImportReport = await identity.registrar.import_rows(
                rows,
                Causation(source, source),
                partial=partial,
                progress=lambda n: progress.advance(task, n),
            )
        return report
    finally:
        await pool.close()


@app.command()
def rebuild(
    service: Annotated[str, typer.Argument(help="identity, card, activation or notification")],
    dry_run: Annotated[bool, typer.Option(help="Replay and compare, then roll back.")] = False,
    schema: Annotated[str | None, typer.Option(help="The service's schema.")] = None,
) -> None:
    """Drop a service's derived state and replay it from its events and the topics it reads."""
    if service not in SERVICES:
        console.print(f"[red]Unknown service {service!r}; one of {', '.join(SERVICES)}.[/]")
        raise typer.Exit(2)
    state = _read_state() or {}
    database_url = (
        os.environ.get("DATABASE_URL")
        or state.get("database")
        or (f"postgresql://postgres@127.0.0.1:{env_port('SHEBAO_PG_PORT', 55432)}/postgres")
    )
    bootstrap = (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        or state.get("kafka")
        or (f"127.0.0.1:{env_port('KAFKA_PORT', 9092)}")
    )
    report = asyncio.run(_rebuild(service, schema or service, database_url, bootstrap, dry_run))
    table = Table(title=f"rebuild {service}" + (" (dry run, rolled back)" if dry_run else ""))
    table.add_column("what")
    table.add_column("value")
    table.add_row("own events replayed", str(report.own_events))
    table.add_row("foreign events replayed", str(report.foreign_events))
    for name, rows in report.rows.items():
        table.add_row(f"rows in {name}", str(rows))
    table.add_row("digest before", report.digest_before)
    table.add_row("digest after", report.digest_after)
    console.print(table)
    if not report.matches:
        console.print("[yellow]The live state differed from the log; it now follows the log.[/]")
        raise typer.Exit(3)
    console.print("[green]The rebuilt state equals the live state.[/]")


async def _rebuild(
    service: str, schema: str, database_url: str, bootstrap: str, dry_run: bool
) -> RebuildReport:
    module = importlib.import_module(f"services.{service}.app")
    pool = await create_pool(database_url, schema, min_size=1, max_size=2)
    try:
        result: RebuildReport = await run_rebuild(
            pool, module.projection(), bootstrap, dry_run=dry_run
        )
        return result
    finally:
        await pool.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        app()
