"""``shebao notifications``: replay failed messages from their dead letters, read a person's
delivery log, and see what the local sink received."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.table import Table

from deploy import exits
from deploy.demo.sink import SinkClient
from deploy.endpoints import KEYS
from deploy.state import console, endpoints, errors, infrastructure_urls, read_state
from shared.consumer import NOTIFICATION_ID_HEADER
from shared.kafka import client_options, topic_partitions
from shared.topics import NOTIFICATION_RETRY_GROUP, dead_letter_topic

app = typer.Typer(help="Messages to citizens: the delivery log, failures, the local sink.")

RETRY_GROUP = NOTIFICATION_RETRY_GROUP


@dataclass
class RetryReport:
    """What replaying the dead letters did, per message."""

    retried: list[str] = field(default_factory=list)
    not_failed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    skipped: int = 0


async def retry_dead_letters(
    bootstrap: str,
    notification_url: str,
    api_key: str,
    *,
    group: str = RETRY_GROUP,
    timeout_s: float = 30,
) -> RetryReport:
    """Send each failed message named by a dead letter back to delivery, once.

    The offsets of ``group`` are committed after each record is handled, so a second run
    starts where the first stopped; a message already retried or sent is reported as not
    failed and left alone (the service refuses to retry it twice)."""
    topic = dead_letter_topic("notification")
    consumer = AIOKafkaConsumer(
        **client_options(bootstrap),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # nothing left open behind the one-line error
        raise
    report = RetryReport()
    try:
        partitions = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        async with httpx.AsyncClient(timeout=10, headers={"X-Api-Key": api_key}) as client:
            loop_deadline = asyncio.get_running_loop().time() + timeout_s
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                if asyncio.get_running_loop().time() > loop_deadline:
                    raise TimeoutError("dead letters not read in time")
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        headers = dict(record.headers or ())
                        nid = headers.get(NOTIFICATION_ID_HEADER)
                        if nid is None:
                            report.skipped += 1  # a poison record, not a failed message
                        else:
                            await _retry(client, notification_url, nid.decode(), report)
                        await consumer.commit({tp: record.offset + 1})
    finally:
        await consumer.stop()
    return report


async def _retry(client: httpx.AsyncClient, url: str, nid: str, report: RetryReport) -> None:
    response = await client.post(f"{url}/v1/notifications/{nid}/retry")
    if response.status_code == 200:
        report.retried.append(nid)
    elif response.status_code == 409:
        report.not_failed.append(nid)
    elif response.status_code == 404:
        report.unknown.append(nid)
    else:
        response.raise_for_status()
        raise RuntimeError(f"unexpected answer {response.status_code}")


@app.command()
def retry(
    api_key: Annotated[str, typer.Option(envvar="SHEBAO_OPERATOR_KEY")] = KEYS["operator"],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Replay the dead letters of failed messages: each is delivered again, once."""
    _, bootstrap = infrastructure_urls()
    report = asyncio.run(retry_dead_letters(bootstrap, endpoints().notification, api_key))
    if as_json:
        print(json.dumps(asdict(report)))
        return
    console.print(
        f"retried {len(report.retried)}, already retried or sent {len(report.not_failed)}, "
        f"unknown {len(report.unknown)}, other dead letters skipped {report.skipped}"
    )
    for nid in report.retried:
        console.print(f"  [green]retried[/] {nid}")


@app.command()
def log(
    person_id: str,
    api_key: Annotated[str, typer.Option(envvar="SHEBAO_OPERATOR_KEY")] = KEYS["operator"],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    reason: Annotated[
        str, typer.Option(help="Why an operator reads it (kept in the person's history).")
    ] = "CITIZEN_REQUEST",
) -> None:
    """A person's delivery log: what was sent, when, by which channel, with which outcome."""
    url = f"{endpoints().notification}/v1/persons/{quote(person_id, safe='')}/messages"
    headers = {"X-Api-Key": api_key, "X-Access-Reason": reason}
    try:
        response = httpx.get(url, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        errors.print(f"[red]The notification service did not answer ({type(exc).__name__}).[/]")
        raise typer.Exit(exits.UNREACHABLE) from exc
    if response.status_code != 200:
        answer = response.json() if response.content else {}
        console.print(
            f"[red]{response.status_code} {answer.get('code')}: {answer.get('message')}[/]"
        )
        raise typer.Exit(1)
    messages: list[dict[str, Any]] = response.json()
    if as_json:
        print(json.dumps(messages, ensure_ascii=False))
        return
    table = Table(title=f"messages to {person_id}")
    for column in ("created", "about", "channel", "status", "attempts", "note"):
        table.add_column(column, overflow="fold")
    for m in messages:
        note = m["last_error"] or ("possible duplicate" if m["possible_duplicate"] else "")
        table.add_row(
            m["created_at"][:19],
            m["about_event_type"],
            m["channel"],
            m["status"],
            str(m["attempts"]),
            note,
        )
    console.print(table)


class SinkKind(StrEnum):
    """What the local sink receives."""

    sms = "sms"
    push = "push"
    email = "email"


@app.command()
def sent(
    kind: Annotated[SinkKind | None, typer.Option(help="Only this kind.")] = None,
    last: Annotated[int, typer.Option(min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, recipients masked.")] = False,
) -> None:
    """What the local sink received (the stack's stand-in for the SMS gateway, SMTP server
    and push service); numbers and addresses shown masked."""
    sink = endpoints().sink
    if sink is None:
        if read_state() is None:
            errors.print("[red]No stack runs here: `shebao up --detach` starts one.[/]")
            raise typer.Exit(exits.UNREACHABLE)
        errors.print("[yellow]No local sink runs (a real gateway is configured).[/]")
        raise typer.Exit(exits.NO)
    received = SinkClient(sink).messages(kind.value if kind else None)
    if as_json:
        shown = [{**m, "to": _mask(m["to"])} for m in received[-last:]]
        print(json.dumps(shown, ensure_ascii=False))
        return
    table = Table(title=f"last {last} of {len(received)} messages received by the local sink")
    for column in ("received", "kind", "to", "text"):
        table.add_column(column, overflow="fold")
    for m in received[-last:]:
        table.add_row(m["received_at"][11:19], m["kind"], _mask(m["to"]), m["text"])
    console.print(table)


def _mask(to: str) -> str:
    if "@" in to:
        return f"{to[:1]}***@{to.split('@', 1)[1]}"
    if to.isdigit() and len(to) == 11:
        return f"{to[:3]}****{to[-4:]}"
    return to
