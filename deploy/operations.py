"""The ``shebao`` commands that work with a running stack: demo, timeline, import, rebuild.

Registered on the command line in deploy/cli.py.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import importlib
import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from deploy import exits
from deploy.demo.journeys import Journey, person_timeline, run_demo
from deploy.demo.showcase import run_showcase
from deploy.endpoints import KEYS
from deploy.state import ServiceName, console, endpoints, errors, infrastructure_urls
from shared.authority import is_person_id
from shared.check import check_identifier
from shared.db import create_pool
from shared.rebuild import RebuildReport
from shared.rebuild import rebuild as run_rebuild


def demo(
    citizens: Annotated[int, typer.Option(min=1, max=10_000, help="How many citizens.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="End with one line of JSON.")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 8,
    seed: Annotated[int | None, typer.Option(help="Seed for made-up citizens.")] = None,
    timeout_s: Annotated[
        float,
        typer.Option("--timeout", min=1, help="Seconds a journey may take, retries included."),
    ] = 60,
) -> None:
    """Drive citizens through verify -> apply -> produce -> mail -> activate -> notified."""
    if not any(_answers(url) for url in endpoints().all().values()):
        errors.print("[red]No service answers. `shebao status` shows each part.[/]")
        raise typer.Exit(exits.UNREACHABLE)
    started = time.monotonic()
    journeys = asyncio.run(
        run_demo(endpoints(), citizens, concurrency=concurrency, seed=seed, timeout_s=timeout_s)
    )
    for journey in journeys:
        _print_journey(journey)
    showcase = asyncio.run(run_showcase(endpoints(), None if seed is None else seed + 10_000))
    for line in showcase.lines:
        console.print(line, highlight=False, soft_wrap=False)
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
    raise typer.Exit(0 if completed == citizens and all(showcase.outcomes.values()) else 1)


def timeline(
    person_id: Annotated[str, typer.Argument(help="The person's opaque id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the events as JSON.")] = False,
) -> None:
    """A person's whole history across the services, in order, with who did what through
    which channel (the right to inquire, Social Insurance Law art. 4)."""

    silent: list[str] = []

    async def fetch() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await person_timeline(client, endpoints(), person_id, unanswered=silent)

    if not is_person_id(person_id):
        raise typer.BadParameter("not a person id (they look like 01a2…-…)", param_hint="PERSON_ID")
    entries = asyncio.run(fetch())
    if len(silent) == len(endpoints().all()):
        errors.print("[red]No service answered. `shebao status` shows each part.[/]")
        raise typer.Exit(exits.UNREACHABLE)
    if silent:
        errors.print(f"[yellow]Not answered, their events are missing: {', '.join(silent)}.[/]")
    if as_json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
        # The same answer as without --json: none found is a no.
        raise typer.Exit(exits.OK if entries else exits.NO)
    if not entries:
        console.print(f"No events about person {person_id}.")
        raise typer.Exit(exits.NO)
    table = Table(title=f"timeline of person {person_id}")
    for column in ("when (UTC)", "service", "event", "record", "by", "channel", "details"):
        table.add_column(column, overflow="fold")
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


def _answers(url: str) -> bool:
    """Whether a service answers at all (ready or not)."""
    try:
        httpx.get(f"{url}/health", timeout=3)
    except httpx.HTTPError:
        return False
    return True


def _print_journey(journey: Journey) -> None:
    mark = "[green]✔[/]" if journey.completed else f"[red]✘ {journey.failure}[/]"
    # Lines longer than the terminal (80 columns when it is none) fold at a word.
    console.print(
        f"{mark} citizen {journey.masked_id_number} person {journey.person_id} "
        f"({journey.seconds:.2f}s)",
        soft_wrap=False,
    )
    for e in journey.timeline:
        console.print(
            f"    {e['occurred_at'][11:23]} {e['producer']:<12} {e['event_type']:<18} "
            f"{_summary(e['payload'])}",
            highlight=False,
            soft_wrap=False,
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
        "acting_person_id",
        "accessed_by",
    )
    return " ".join(f"{k}={payload[k]}" for k in keys if k in payload)


def import_persons(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    partial: Annotated[
        bool, typer.Option(help="Import the valid rows even when some are rejected.")
    ] = False,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report", dir_okay=False, writable=True, help="Write the rejected rows to this CSV."
        ),
    ] = None,
    api_key: Annotated[str, typer.Option(envvar="SHEBAO_OPERATOR_KEY")] = KEYS["operator"],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Register insured persons from a CSV file (name,id_number,phone,region,guardian_id_number),
    through identity's ``POST /v1/registry/imports``.

    Every row is checked first; unless --partial, one rejected row means nothing is imported.
    Importing the same file again changes nothing.
    """
    if report_file is not None and not report_file.parent.is_dir():
        errors.print(f"[red]No folder {report_file.parent} to write the report in.[/]")
        raise typer.Exit(exits.USAGE)
    with console.status(f"Registering the persons of {file.name}"):
        response = _operator_call(
            "POST",
            f"{endpoints().identity}/v1/registry/imports",
            api_key,
            params={"partial": str(partial).lower()},
            content=file.read_bytes(),
            headers={"Content-Type": "text/csv", "X-Correlation-Id": f"import-{uuid.uuid4()}"},
        )
    if response.status_code in (413, 415, 422):
        answer = response.json()
        console.print(f"[red]{answer.get('message')}[/]")
        raise typer.Exit(2)
    report = _answer(response)
    rejected: list[dict[str, Any]] = report["rejected"]
    count: int = report.get("rejected_count", len(rejected))
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        raise typer.Exit(exits.OK if report["committed"] else exits.NO)
    console.print(
        f"{report['rows']} rows: {report['registered']} registered, {report['unchanged']} "
        f"already registered as given, {count} rejected."
    )
    if rejected:
        table = Table(title="rejected rows" + ("" if report["committed"] else ": nothing imported"))
        for column in ("line", "code", "reason"):
            table.add_column(column, overflow="fold")
        for row in rejected[:50]:
            table.add_row(str(row["line"]), row["code"], row["reason"])
        console.print(table)
        if count > 50:
            console.print(f"... and {count - 50} more (the first {len(rejected)} in --report).")
    if report_file is not None:
        with report_file.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "code", "reason"])
            writer.writerows((r["line"], r["code"], r["reason"]) for r in rejected)
    raise typer.Exit(0 if report["committed"] else 1)


def issue_facts(
    api_key: Annotated[str, typer.Option(envvar="SHEBAO_OPERATOR_KEY")] = KEYS["operator"],
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Issue identity's person facts (PersonFactsIssued) under the newest SHEBAO_FACTS_KEYS key
    for every registered person who has none under it: once after an upgrade, and after a key
    rotation. Running it again issues nothing new."""
    url = f"{endpoints().identity}/v1/registry/facts"
    correlation = f"issue-facts-{uuid.uuid4()}"
    issued = seen = 0
    after: str | None = ""
    with console.status("Issuing person facts") as shown:
        while after is not None:
            page = _answer(
                _operator_call(
                    "POST",
                    url,
                    api_key,
                    json={"after": after, "limit": 500},
                    headers={"X-Correlation-Id": correlation},
                )
            )
            issued += page["issued"]
            seen += page["seen"]
            after = page["next_after"]
            shown.update(f"Issuing person facts: {seen} persons looked at, {issued} issued")
            if not console.is_terminal and not as_json:
                console.print(f"{seen} persons looked at, {issued} issued")
    if as_json:
        print(json.dumps({"registered": seen, "issued": issued}))
        return
    console.print(
        f"{seen} registered persons: facts issued for {issued}, {seen - issued} had them."
    )


def _operator_call(method: str, url: str, api_key: str, **kwargs: Any) -> httpx.Response:
    headers = {"X-Api-Key": api_key, **kwargs.pop("headers", {})}
    try:
        timeout = httpx.Timeout(10, read=3600)  # a large file takes minutes to register
        return httpx.request(method, url, headers=headers, timeout=timeout, **kwargs)
    except httpx.HTTPError as exc:
        errors.print(f"[red]The service at {url} did not answer ({type(exc).__name__}).[/]")
        raise typer.Exit(exits.UNREACHABLE) from exc


def _answer(response: httpx.Response) -> dict[str, Any]:
    answer: dict[str, Any] = response.json() if response.content else {}
    if response.status_code != 200:
        console.print(
            f"[red]{response.status_code} {answer.get('code')}: {answer.get('message')}[/]"
        )
        raise typer.Exit(1)
    return answer


def rebuild(
    service: Annotated[ServiceName, typer.Argument(help="The service to rebuild.")],
    dry_run: Annotated[bool, typer.Option(help="Replay and compare, then roll back.")] = False,
    schema: Annotated[str | None, typer.Option(help="The service's schema.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Drop a service's derived state and replay it from its events and the topics it reads."""
    try:
        check_identifier(schema or service.value)
    except ValueError:
        raise typer.BadParameter("a lower-case SQL name", param_hint="--schema") from None
    database_url, bootstrap = infrastructure_urls()
    with console.status(f"Rebuilding {service.value} from its events and the topics it reads"):
        report = asyncio.run(
            _rebuild(service.value, schema or service.value, database_url, bootstrap, dry_run)
        )
    if as_json:
        print(
            json.dumps(dataclasses.asdict(report) | {"matches": report.matches, "dry_run": dry_run})
        )
        raise typer.Exit(exits.OK if report.matches else exits.DIFFERED)
    table = Table(title=f"rebuild {service.value}" + (" (dry run, rolled back)" if dry_run else ""))
    table.add_column("what", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_row("own events replayed", str(report.own_events))
    table.add_row("foreign events replayed", str(report.foreign_events))
    for name, rows in report.rows.items():
        table.add_row(f"rows in {name}", str(rows))
    table.add_row("digest before", report.digest_before)
    table.add_row("digest after", report.digest_after)
    console.print(table)
    if not report.matches:
        console.print("[yellow]The live state differed from the log; it now follows the log.[/]")
        raise typer.Exit(exits.DIFFERED)
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
