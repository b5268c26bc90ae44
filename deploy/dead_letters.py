"""``shebao dead-letters``: see what each consumer group parked, and decide about it.

A decision is itself a record on the group's dead-letter topic, so the topic is the audit
log: who decided what about which record, when and why. ``redrive`` appends a copy of the
parked record there, which the group's own consumer applies (once: its inbox skips an event
it already applied; a record that fails again is parked again); ``skip`` records that the
record is dismissed.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import typer
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    ConcurrentTransactions,
    GroupAuthorizationFailedError,
    InvalidProducerEpoch,
    KafkaConnectionError,
    KafkaError,
    ProducerFenced,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)
from aiokafka.structs import ConsumerRecord
from rich.table import Table
from rich.text import Text

from deploy import exits
from deploy.state import ServiceName, console, errors, infrastructure_urls
from shared.kafka import Kafka, idempotent_producer, read_topic
from shared.redrive import DEAD_LETTER_ACTION_HEADER, DEAD_LETTER_REASON_HEADER, SOURCE_HEADERS
from shared.topics import CONSUMED_TOPICS, dead_letter_topic

app = typer.Typer(help="Records a consumer group parked: list, show, skip or redrive them.")

T = TypeVar("T")
Action = Literal["redrive", "skip"]
REF_HEADER = "dead_letter_ref"
BY_HEADER = "dead_letter_by"
NOTE_HEADER = "dead_letter_note"
AT_HEADER = "dead_letter_at"
#: Another operator's decision about the same group took the transactional id meanwhile.
FENCED = (ProducerFenced, InvalidProducerEpoch, ConcurrentTransactions)
#: What a secured cluster answers a user the ACLs do not let decide.
REFUSED = (
    TransactionalIdAuthorizationFailed,
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    ClusterAuthorizationFailedError,
)
#: The longest reason kept with a decision.
MAX_NOTE = 500


@dataclass
class DeadLetter:
    """A parked record, and what was decided about it."""

    group: str
    ref: str
    parked_at: str
    source: str
    event_type: str
    reason: str
    size: int
    state: str = "parked"
    decided_by: str | None = None
    decided_at: str | None = None
    note: str | None = None


class DeadLetterError(Exception):
    """An operator's request that cannot be carried out; the message says why."""


def _text(headers: dict[str, bytes], name: str, default: str = "") -> str:
    return headers.get(name, default.encode()).decode(errors="replace")


async def _read_all(bootstrap: Kafka, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    # A decision whose transaction was aborted (it lost to another) was never taken.
    records = await read_topic(bootstrap, topic, committed_only=True)
    return sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))


def _check_group(group: str) -> None:
    if group not in CONSUMED_TOPICS:
        raise DeadLetterError(f"no consumer group {group!r}; groups: {', '.join(CONSUMED_TOPICS)}")


async def dead_letters(bootstrap: Kafka, group: str) -> list[DeadLetter]:
    """Every record ``group`` parked, oldest first, with the decision taken about it."""
    _check_group(group)
    records = await _read_all(bootstrap, dead_letter_topic(group))
    parked: dict[str, DeadLetter] = {}
    for record in records:
        headers = dict(record.headers or ())
        action = _text(headers, DEAD_LETTER_ACTION_HEADER)
        if action:
            decided = parked.get(_text(headers, REF_HEADER))
            if decided is not None:
                decided.state = "redriven" if action == "redrive" else "skipped"
                decided.decided_by = _text(headers, BY_HEADER)
                decided.decided_at = _text(headers, AT_HEADER)
                decided.note = _text(headers, NOTE_HEADER)
            continue
        ref = f"{record.partition}:{record.offset}"
        source = ":".join(_text(headers, h, "?") for h in SOURCE_HEADERS)
        parked[ref] = DeadLetter(
            group=group,
            ref=ref,
            parked_at=datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(),
            source=source,
            event_type=_text(headers, "event_type", "?"),
            reason=_text(headers, DEAD_LETTER_REASON_HEADER, "?"),
            size=len(record.value or b""),
        )
    return list(parked.values())


async def decide(
    bootstrap: Kafka, group: str, ref: str, action: Action, *, by: str, note: str
) -> DeadLetter:
    """Redrive or skip one parked record; the decision is appended to the group's topic."""
    _check_group(group)
    if not note.strip():
        raise DeadLetterError("say why: the decision is kept with the record")
    if len(note) > MAX_NOTE:
        raise DeadLetterError(f"say why in at most {MAX_NOTE} characters")
    # One decision about a group's records at a time: a second operator's producer (the same
    # transactional id) fences the first, whose transaction then aborts; each reads the
    # topic only once its producer holds the id, so it sees every decision committed before.
    _quiet_fences(asyncio.get_running_loop())
    producer = idempotent_producer(
        bootstrap, "shebao-dead-letters", transactional_id=f"shebao-dead-letters-{group}"
    )
    try:
        await producer.start()  # (stopped below even when it cannot start: nothing leaks)
        async with producer.transaction():
            letter = await _decide_in(producer, bootstrap, group, ref, action, by, note)
    except KafkaConnectionError:
        raise  # Kafka away: the caller says so (exit 4)
    except REFUSED as exc:
        raise DeadLetterError(
            f"this Kafka user may not decide {group}'s dead letters ({type(exc).__name__}):"
            " decisions are the operator's (KAFKA_SASL_USERNAME); nothing was decided"
        ) from None
    except (*FENCED, KafkaError) as exc:
        # A fenced producer's send may also fail as the sender's generic KafkaError.
        raise DeadLetterError(
            f"another decision about {group}'s records was being made at the same moment"
            f" ({type(exc).__name__}): nothing was decided; list them again"
        ) from None
    finally:
        await producer.stop()
    return letter


def _quiet_fences(loop: asyncio.AbstractEventLoop) -> None:
    """aiokafka leaves a fenced producer's error in futures nobody awaits, which asyncio
    prints with a traceback when they are collected. The operator was told (above): those
    are dropped; anything else goes where it went before."""
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_fences", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), ProducerFenced):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.quiets_fences = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


async def _decide_in(
    producer: AIOKafkaProducer,
    bootstrap: Kafka,
    group: str,
    ref: str,
    action: Action,
    by: str,
    note: str,
) -> DeadLetter:
    topic = dead_letter_topic(group)
    records = await _read_all(bootstrap, topic)
    found = [r for r in records if f"{r.partition}:{r.offset}" == ref]
    letters = {d.ref: d for d in await dead_letters(bootstrap, group)}
    if not found or ref not in letters:
        raise DeadLetterError(f"no parked record {ref} for group {group}")
    letter = letters[ref]
    if letter.state != "parked":
        raise DeadLetterError(f"{group} {ref} was already {letter.state} by {letter.decided_by}")
    record = found[0]
    decided_at = datetime.now(UTC).isoformat()
    headers = [
        *(
            (k, v)
            for k, v in record.headers or ()
            if action == "redrive" and k != DEAD_LETTER_REASON_HEADER
        ),
        (DEAD_LETTER_ACTION_HEADER, action.encode()),
        (REF_HEADER, ref.encode()),
        (BY_HEADER, by.encode()),
        (NOTE_HEADER, note.encode()),
        (AT_HEADER, decided_at.encode()),
    ]
    value = record.value if action == "redrive" else b""
    await producer.send_and_wait(
        topic, value=value, key=record.key, headers=headers, partition=record.partition
    )
    letter.state = "redriven" if action == "redrive" else "skipped"
    letter.decided_by, letter.decided_at, letter.note = by, decided_at, note
    return letter


def _run(coroutine: Coroutine[Any, Any, T], refused: int = exits.NO) -> T:
    """Run; a request that cannot be carried out is one line (on stderr) and ``refused``."""
    try:
        return asyncio.run(coroutine)
    except DeadLetterError as exc:
        errors.print(Text(printable(str(exc)), style="red"))
        raise typer.Exit(refused) from exc


def printable(text: str) -> str:
    """Text as it may reach a terminal: control characters (escape sequences) shown, not run."""
    return "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)


Group = Annotated[ServiceName, typer.Argument(help="The consumer group (a service).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("list")
def list_(
    group: Annotated[
        ServiceName | None, typer.Argument(help="One group; all when left out.")
    ] = None,
    as_json: AsJson = False,
    parked_only: Annotated[bool, typer.Option("--parked", help="Only undecided.")] = False,
) -> None:
    """What each group parked, and what was decided about it."""
    _, bootstrap = infrastructure_urls()
    letters: list[DeadLetter] = []
    for name in [group.value] if group else list(CONSUMED_TOPICS):
        found = _run(dead_letters(bootstrap, name))
        letters += [d for d in found if d.state == "parked" or not parked_only]
    if as_json:
        print(json.dumps([asdict(d) for d in letters]))
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("group", "ref", "parked at", "source", "event", "reason", "state"):
        table.add_column(column, overflow="fold")
    for d in letters:
        state = d.state if d.state == "parked" else f"{d.state} by {d.decided_by}: {d.note}"
        state = printable(state[:200])
        table.add_row(
            d.group, d.ref, d.parked_at[:19], d.source, d.event_type, d.reason[:60], state
        )
    console.print(table)


@app.command()
def show(group: Group, ref: str, as_json: AsJson = False) -> None:
    """One parked record: where it came from, why it was parked, what was decided."""
    _, bootstrap = infrastructure_urls()
    found = _run(dead_letters(bootstrap, group.value))
    letter = next((d for d in found if d.ref == ref), None)
    if letter is None:
        errors.print(Text(f"no parked record {printable(ref)} for group {group.value}", "red"))
        raise typer.Exit(exits.NO)
    if as_json:
        print(json.dumps(asdict(letter)))
        return
    for name, value in asdict(letter).items():
        console.print(Text.assemble((f"{name:>11} ", "bold"), printable(str(value))))


def _decide(
    group: ServiceName, ref: str, action: Action, by: str | None, reason: str, as_json: bool
) -> None:
    _, bootstrap = infrastructure_urls()
    who = by or getpass.getuser()
    # A Kafka that takes connections but cannot coordinate a transaction must not hang it.
    letter = _run(
        asyncio.wait_for(decide(bootstrap, group.value, ref, action, by=who, note=reason), 60)
    )
    if as_json:
        print(json.dumps(asdict(letter)))
        return
    said = f"{group.value} {ref}: {letter.state} by {who} ({reason})"
    console.print(Text(printable(said)))


Reason = Annotated[str, typer.Option("--reason", help="Why: kept with the decision.")]
By = Annotated[str | None, typer.Option("--by", help="Who decides (default: your login).")]


@app.command()
def redrive(group: Group, ref: str, reason: Reason, by: By = None, as_json: AsJson = False) -> None:
    """Give a parked record back to its group, once its cause is fixed."""
    _decide(group, ref, "redrive", by, reason, as_json)


@app.command()
def skip(group: Group, ref: str, reason: Reason, by: By = None, as_json: AsJson = False) -> None:
    """Dismiss a parked record for good (it stays in the topic, marked skipped)."""
    _decide(group, ref, "skip", by, reason, as_json)
