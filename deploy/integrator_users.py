"""``shebao integrators``: the Kafka users banks, hospitals and apps read the platform's events
as, on a secured cluster. Each organisation gets its own SCRAM user, ``integrator-<org>``, that
may read the four events topics under consumer groups ``integrator.<org>.…`` and nothing else;
removing it takes its permissions away at once and its password with them.

Run as the cluster's admin: the local cluster's (``shebao up --brokers 3``) is found by itself;
in compose, run it where the admin's credentials are, the ``kafka-provision`` job:
``docker compose -p shebao run --rm kafka-provision python -m deploy.integrator_users add bank``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from aiokafka.admin import AIOKafkaAdminClient
from rich.table import Table

from deploy import exits
from deploy.kafka_acl import (
    ProvisionError,
    grant,
    integrator_acls,
    integrator_group_prefix,
    revoke,
    until_every_broker_holds,
)
from deploy.kafka_security import ADMIN, ClusterSecurity
from deploy.kafka_users import UserRefused, delete_user, set_password, users
from deploy.state import console, errors, read_state
from shared.kafka import client_options, kafka_security
from shared.topics import EVENTS_TOPIC

app = typer.Typer(
    help="Kafka users for integrators (banks, hospitals, apps): read-only, each its own groups."
)

T = TypeVar("T")
PREFIX = "integrator-"
#: An organisation's short name: lower-case letters, digits and inner hyphens.
_ORG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
#: How long a change may take to reach every broker.
SETTLE_S = 60.0


class NotSecured(RuntimeError):
    """The cluster has no users: the laptop's plaintext single node."""


@dataclass(frozen=True)
class Access:
    """What an integrator user may do, and where it connects."""

    user: str
    groups: str
    topics: list[str]
    password: str | None = None
    bootstrap: str | None = None
    ca_file: str | None = None


def _org(name: str) -> str:
    if not _ORG.fullmatch(name):
        raise typer.BadParameter(
            "an organisation's short name: 1 to 32 lower-case letters, digits or inner hyphens"
        )
    return name


Org = Annotated[
    str,
    typer.Argument(callback=_org, metavar="ORG", help="The organisation's short name: bank."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _access(user: str, password: str | None = None) -> Access:
    state = read_state() or {}
    security = state.get("kafka_security")
    return Access(
        user=user,
        groups=integrator_group_prefix(user) + "*",
        topics=list(EVENTS_TOPIC.values()),
        password=password,
        bootstrap=state.get("kafka_external"),
        ca_file=str(Path(security) / "ca.pem") if security else None,
    )


def _admin_options() -> dict[str, Any]:
    """The running local cluster's admin, else the environment's user (compose's admin)."""
    state = read_state() or {}
    if (security := state.get("kafka_security")) and not os.environ.get("KAFKA_SASL_USERNAME"):
        return ClusterSecurity.load_or_create(Path(security)).client_options(ADMIN, state["kafka"])
    if kafka_security().protocol == "PLAINTEXT":
        raise NotSecured(
            "integrator users live on a secured cluster (`shebao up --brokers 3`, or compose); "
            "the laptop's single node is plaintext and has no users: read it without one"
        )
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or state.get("kafka") or ""
    return client_options(bootstrap or "127.0.0.1:9092")


async def _as_admin(work: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
    admin = AIOKafkaAdminClient(**_admin_options(), request_timeout_ms=30000)
    await admin.start()
    try:
        return await work(admin)
    finally:
        await admin.close()


async def _until_every_broker_knows(admin: AIOKafkaAdminClient, user: str, known: bool) -> None:
    brokers = [b["node_id"] for b in (await admin.describe_cluster())["brokers"]]
    deadline = time.monotonic() + SETTLE_S
    for broker in brokers:
        while (user in await users(admin, [user], node=broker)) != known:
            if time.monotonic() > deadline:
                raise UserRefused(f"broker {broker} has not taken the change to {user} yet")
            await asyncio.sleep(0.2)


async def add_integrator(admin: AIOKafkaAdminClient, org: str, *, rotate: bool = False) -> str:
    """Make ``integrator-<org>`` with a new random password (``rotate``: give the one that
    exists a new password, the old one then stops working) and its read-only ACLs; return the
    password once every broker has both."""
    user = PREFIX + org
    exists = bool(await users(admin, [user]))
    if exists and not rotate:
        raise UserRefused(f"{user} exists: --rotate gives it a new password (the old one stops)")
    if rotate and not exists:  # a mistyped rotation must not make a new reader
        raise UserRefused(f"there is no {user} to rotate: add it without --rotate")
    password = secrets.token_urlsafe(24)
    acls = integrator_acls(user)
    await grant(admin, acls)
    await set_password(admin, user, password)
    await until_every_broker_holds(admin, lambda held: held >= len(acls), SETTLE_S, user)
    await _until_every_broker_knows(admin, user, known=True)
    return password


async def remove_integrator(admin: AIOKafkaAdminClient, org: str) -> None:
    """Take ``integrator-<org>``'s permissions away (at once, connections already open too),
    then its password."""
    user = PREFIX + org
    exists = bool(await users(admin, [user]))
    if not await revoke(admin, user) and not exists:
        raise UserRefused(f"there is no {user}")
    if exists:
        await delete_user(admin, user)
    await until_every_broker_holds(admin, lambda held: held == 0, SETTLE_S, user)
    await _until_every_broker_knows(admin, user, known=False)


async def integrators(admin: AIOKafkaAdminClient) -> list[str]:
    """Every integrator user of the cluster."""
    return sorted(u for u in await users(admin) if u.startswith(PREFIX))


def _run(work: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
    try:
        return asyncio.run(_as_admin(work))
    except (NotSecured, UserRefused, ProvisionError) as refused:
        errors.print(f"[red]{refused}.[/]")
        raise typer.Exit(exits.NO) from None


@app.command()
def add(
    org: Org,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="A new password for one that exists.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Make integrator-ORG: it reads the events topics under groups integrator.ORG.*; its
    password is printed once (hand it over safely; it is kept nowhere)."""
    password = _run(lambda admin: add_integrator(admin, org, rotate=rotate))
    access = _access(PREFIX + org, password)
    if as_json:
        print(json.dumps(asdict(access)))
        return
    console.print(
        f"{access.user} may read {', '.join(access.topics)} under consumer groups "
        f"{access.groups}, over SASL_SSL with SCRAM-SHA-512, and nothing else."
    )
    if access.bootstrap:
        console.print(f"Bootstrap: {access.bootstrap}; CA: {access.ca_file}")
    console.print(f"Password (shown once): {password}", soft_wrap=True)


@app.command()
def remove(org: Org) -> None:
    """Remove integrator-ORG: its permissions go at once, then its password."""
    _run(lambda admin: remove_integrator(admin, org))
    console.print(f"{PREFIX}{org} removed: it reads nothing and can no longer sign in.")


@app.command("list")
def list_(as_json: AsJson = False) -> None:
    """Every integrator user and the groups it reads under."""
    found = [_access(user) for user in _run(integrators)]
    if as_json:
        print(json.dumps([{"user": a.user, "groups": a.groups} for a in found]))
        return
    table = Table(title="integrators")
    table.add_column("user")
    table.add_column("reads under groups")
    for access in found:
        table.add_row(access.user, access.groups)
    console.print(table)


if __name__ == "__main__":
    exits.run(app)
