"""The ``shebao`` command: run the local stack, look at it, drive a demo through it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from deploy import dead_letters, exits, health, integrator_users, kafka, notifications, operations
from deploy.kafka_security import OPERATOR
from deploy.paths import env_port, shebao_home
from deploy.stack import Stack, StackError, refusals, start_infrastructure
from deploy.state import (
    alive,
    console,
    errors,
    read_state,
    restart_requests,
    run_dir,
    state_file,
)
from deploy.supervisor import Supervisor
from shared.kafka import Kafka

app = typer.Typer(
    help="shebao: the social security card platform's local stack.", no_args_is_help=True
)


def _version(show: bool) -> None:
    if show:
        print(f"shebao {exits.shebao_version()}")
        raise typer.Exit(exits.OK)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """shebao: the social security card platform's local stack."""


import_app = typer.Typer(help="Load records the social insurance agency keeps.")
app.add_typer(import_app, name="import")
app.add_typer(notifications.app, name="notifications")
app.add_typer(dead_letters.app, name="dead-letters")
app.add_typer(integrator_users.app, name="integrators")
app.command()(operations.demo)
app.command()(operations.timeline)
app.command()(operations.rebuild)
app.command("issue-facts")(operations.issue_facts)
app.command()(health.status)
import_app.command("persons")(operations.import_persons)


@app.command("fetch-kafka")
def fetch_kafka() -> None:
    """Download Apache Kafka's jars from Maven Central once (cached under .shebao/)."""
    libs = kafka.fetch_jars(shebao_home())
    console.print(f"Kafka {kafka.KAFKA_VERSION} jars in {libs}")


@app.command()
def up(
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Return once ready.")] = False,
    brokers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Kafka nodes: 1 (plaintext, the laptop's default) or 3+ (a KRaft quorum with "
            "SASL/SCRAM, ACLs and a TLS listener; its data apart from the single node's).",
        ),
    ] = 1,
    replicas: Annotated[
        int,
        typer.Option(
            min=1,
            max=9,
            help="Processes of each service, behind a proxy on the service's port (replica n "
            "on the port + 100·n).",
        ),
    ] = 1,
) -> None:
    """Run Kafka, PostgreSQL and the four services; Ctrl-C stops everything."""
    if brokers == 2:
        errors.print("[red]--brokers 2 cannot survive the loss of one: use 1, or 3 or more.[/]")
        raise typer.Exit(exits.USAGE)
    if (state := read_state()) is not None:
        console.print(
            f"[yellow]The stack already runs (pid {state['pid']}).[/] `shebao down` stops it."
        )
        raise typer.Exit(1)
    if detach:
        _start_detached(["--brokers", str(brokers), "--replicas", str(replicas)])
    else:
        _run_foreground(
            show_events=os.environ.get("SHEBAO_SUPERVISED") != "1",
            brokers=brokers,
            replicas=replicas,
        )


def _start_detached(options: list[str], timeout_s: float = 300) -> None:
    log = (run_dir() / "stack.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "up", *options],
        env={**os.environ, "SHEBAO_SUPERVISED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    started = time.monotonic()
    deadline = started + timeout_s
    announced: set[str] = set()
    with console.status("Starting Kafka, PostgreSQL and the services..."):
        while (state := read_state()) is None or state.get("status") != "ready":
            for part in health.parts_up(state, announced):
                announced.add(part)
                console.print(f"  {part} up after {time.monotonic() - started:.0f} s")
            if proc.poll() is not None:
                said = refusals(run_dir() / "stack.log")
                errors.print(
                    f"The stack failed to start; see {run_dir() / 'stack.log'}{said}",
                    style="red",
                    markup=False,
                )
                raise typer.Exit(1)
            if time.monotonic() > deadline:
                proc.terminate()
                errors.print(f"[red]Not ready after {timeout_s}s; see {run_dir()}[/]")
                raise typer.Exit(1)
            time.sleep(0.3)
    _print_urls(state)


def _run_foreground(show_events: bool, brokers: int = 1, replicas: int = 1) -> None:
    home = shebao_home()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stack: Stack | None = None
    try:
        with console.status("Starting Kafka and PostgreSQL..."):
            infra = start_infrastructure(
                home,
                # A cluster keeps its data apart: PostgreSQL and Kafka stay in step.
                home / ("data" if brokers == 1 else f"data-{brokers}-brokers"),
                kafka_port=env_port("KAFKA_PORT", 9092),
                controller_port=env_port("KAFKA_CONTROLLER_PORT", 9093),
                external_port=env_port("KAFKA_EXTERNAL_PORT", 9094),
                pg_port=env_port("SHEBAO_PG_PORT", 55432),
                brokers=brokers,
            )
            stack = Stack(infra)
        with console.status("Starting the services..."):
            stack.start_services(run_dir() / "logs", replicas=replicas)
        supervisor = Supervisor(stack, restart_requests())
        state = {
            "pid": os.getpid(),
            "status": "ready",
            "kafka": infra.bootstrap_servers,
            "database": infra.database_url,
            "services": {n: p.url for n, p in stack.services.items() if n not in stack.replicas},
            "replicas": stack.replicas,
            "logs": str(run_dir() / "logs"),
        }
        if infra.kafka is not None and infra.kafka.security is not None:
            state["kafka_external"] = infra.kafka.external_servers
            state["kafka_security"] = str(infra.kafka.security.directory)
        _write_state(state, supervisor)
        _print_urls(state)
        if show_events:
            console.print("[dim]Events as they flow (Ctrl-C stops everything):[/]")
            asyncio.run(_tail_events(infra.kafka_as(OPERATOR), supervisor, state))
        else:
            while True:
                _supervise(supervisor, state)
                time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("Stopping...")
    except (StackError, kafka.KafkaSetupError) as exc:
        errors.print(f"{exc}", style="red", markup=False)
        raise typer.Exit(1) from exc
    finally:
        if stack is not None:
            stack.stop()
        state_file().unlink(missing_ok=True)
        console.print("Stopped.")


def _supervise(supervisor: Supervisor, state: dict[str, Any]) -> None:
    """Restart what exited or what an operator asked to; keep the state file current."""
    restarted = supervisor.tick()
    if restarted:
        console.print(f"[yellow]Restarted: {', '.join(restarted)}[/]")
        _write_state(state, supervisor)


def _write_state(state: dict[str, Any], supervisor: Supervisor) -> None:
    state["parts"] = supervisor.status()
    state_file().write_text(json.dumps(state, indent=2))


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _print_urls(state: dict[str, Any]) -> None:
    table = Table(title="shebao is up")
    table.add_column("component", overflow="fold")
    table.add_column("address", overflow="fold")
    table.add_column("OpenAPI", overflow="fold")
    table.add_row("Kafka", state["kafka"], "")
    if external := state.get("kafka_external"):
        table.add_row("Kafka for integrators (SASL_SSL)", external, "")
    table.add_row("PostgreSQL", _hide_password(state["database"]), "")
    for name, url in state["services"].items():
        table.add_row(name, url, "(operator console)" if name == "console" else f"{url}/docs")
    console.print(table)
    console.print(f"Logs: {state['logs']}")
    if security := state.get("kafka_security"):
        console.print(
            f"Kafka users and passwords: {security}/credentials.json; CA: {security}/ca.pem"
        )


def _hide_password(url: str) -> str:
    if "@" not in url or ":" not in url.split("@")[0].split("//")[-1]:
        return url
    scheme, rest = url.split("//", 1)
    user = rest.split(":", 1)[0]
    return f"{scheme}//{user}:***@{rest.split('@', 1)[1]}"


async def _tail_events(kafka: Kafka, supervisor: Supervisor, state: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaConsumer

    from shared.kafka import client_options
    from shared.topics import EVENTS_TOPIC

    consumer = AIOKafkaConsumer(*EVENTS_TOPIC.values(), **client_options(kafka))
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    _print_event(r.value)
            _supervise(supervisor, state)
    finally:
        await consumer.stop()


def _print_event(raw: bytes | None) -> None:
    try:
        event = json.loads(raw or b"")
        console.print(
            f"[dim]{event['occurred_at'][11:23]}[/] [cyan]{event['producer']:<12}[/] "
            f"[bold]{event['event_type']:<18}[/] person …{event['person_id'][-12:]} "
            f"{event['stream_id']} v{event['stream_version']}",
            soft_wrap=False,  # folds at the terminal's width
        )
    except (ValueError, KeyError, TypeError):
        console.print("[red]unparseable record[/]")


@app.command()
def down(timeout_s: float = 60) -> None:
    """Stop a stack started with ``up --detach`` (data is kept)."""
    state = read_state()
    if state is None:
        console.print("The stack is not running.")
        return
    os.kill(int(state["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    with console.status("Stopping..."):
        while alive(int(state["pid"])) and time.monotonic() < deadline:
            time.sleep(0.2)
    if alive(int(state["pid"])):
        errors.print("[red]The stack did not stop in time.[/]")
        raise typer.Exit(1)
    console.print("Stopped.")


@app.command()
def restart(
    part: Annotated[
        str,
        typer.Argument(
            help="identity, card, activation, notification, sink, console, kafka or postgres "
            "(with --replicas, a service's replicas one by one, or one: identity-1 …; with "
            "--brokers 3, kafka-1 …)."
        ),
    ],
    timeout_s: Annotated[float, typer.Option(help="How long to wait until it is ready.")] = 120,
) -> None:
    """Restart one part of a stack started with ``up`` (data is kept; the others run on)."""
    state = read_state()
    if state is None:
        console.print("The stack is not running.")
        raise typer.Exit(1)
    parts = state.get("parts", {})
    if part not in parts:
        errors.print(f"[red]No part named {part!r}.[/] Parts: {', '.join(parts)}.")
        raise typer.Exit(2)
    replicas = [r for r in state.get("replicas", {}) if r.rpartition("-")[0] == part]
    # A service with replicas: each in turn, the next once the last answers (a rolling
    # restart: the service never stops answering); its proxy stays.
    for name in replicas or [part]:
        _restart_one(state, name, timeout_s)


def _restart_one(state: dict[str, Any], part: str, timeout_s: float) -> None:
    request = restart_requests() / part
    request.touch()
    url = state["services"].get(part) or state.get("replicas", {}).get(part)
    deadline = time.monotonic() + timeout_s
    with console.status(f"Restarting {part}..."):
        while request.exists() or (url is not None and not health.ready(url)[0]):
            if time.monotonic() > deadline:
                errors.print(f"[red]{part} not ready after {timeout_s:.0f}s; see {run_dir()}[/]")
                raise typer.Exit(1)
            time.sleep(0.3)
    restarted = (read_state() or state).get("parts", {}).get(part, {})
    console.print(f"{part} restarted (pid {restarted.get('pid')}).")


def main() -> None:
    """The ``shebao`` command (see deploy/exits.py for how it ends)."""
    exits.run(app)


if __name__ == "__main__":
    main()
