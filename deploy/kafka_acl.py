"""Who may do what on a secured cluster: each service writes only its own topic and reads only
what it consumes, the operator reads everything and decides dead letters, an integrator reads
the event topics under its own consumer groups; no one else produces. Provisioned by the
brokers' admin, with the topics, before the services start."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, ClassVar

import typer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError
from aiokafka.protocol.admin import CreateAclsRequest_v1, DeleteAclsRequest, DescribeAclsRequest
from aiokafka.protocol.api import Request

from deploy.kafka_security import DEMO_INTEGRATOR, OPERATOR
from shared.kafka import Kafka, client_options, create_topics, kafka_security
from shared.topics import (
    CONSUMED_TOPICS,
    EVENTS_TOPIC,
    NOTIFICATION_RETRY_GROUP,
    all_topics,
    dead_letter_topic,
)


class Resource(IntEnum):
    """Kafka's resource types (the numbers its protocol uses)."""

    TOPIC = 2
    GROUP = 3
    TRANSACTIONAL_ID = 5


class Pattern(IntEnum):
    """How a resource name matches: exactly, or as a prefix."""

    LITERAL = 3
    PREFIXED = 4


class Op(IntEnum):
    """Kafka's operations (the numbers its protocol uses)."""

    READ = 3
    WRITE = 4
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10


_ALLOW = 3
#: Matches every resource type, pattern, operation and permission in a filter.
_ANY = 1


@dataclass(frozen=True, order=True)
class Acl:
    """One permission: ``principal`` may ``op`` on the resource."""

    principal: str
    resource: Resource
    name: str
    op: Op
    pattern: Pattern = Pattern.LITERAL


def _grant(user: str, resource: Resource, names: list[str], *ops: Op) -> list[Acl]:
    return [Acl(f"User:{user}", resource, name, op) for name in names for op in ops]


def integrator_group_prefix(user: str) -> str:
    """The consumer groups an integrator reads under: ``integrator-bank`` →
    ``integrator.bank.`` (the guide's ``integrator.<org>.<purpose>``)."""
    return user.replace("-", ".", 1) + "."


def acl_plan(integrators: tuple[str, ...] = (DEMO_INTEGRATOR,)) -> list[Acl]:
    """Every ACL of the platform, from the topic contract (shared.topics)."""
    topics = all_topics()
    acls: list[Acl] = []
    for service, consumed in CONSUMED_TOPICS.items():
        own, parked = EVENTS_TOPIC[service], dead_letter_topic(service)
        # Seeing every platform topic lets a service check they exist; it reads none of them.
        acls += _grant(service, Resource.TOPIC, topics, Op.DESCRIBE)
        # Its relay writes its events and reads them back to reconcile; its consumer parks
        # what it cannot apply and reads redriven records back.
        acls += _grant(service, Resource.TOPIC, [own, parked], Op.WRITE, Op.READ)
        acls += _grant(service, Resource.TOPIC, list(consumed), Op.READ)
        acls += _grant(service, Resource.GROUP, [service], Op.READ, Op.DESCRIBE)
    acls += _grant(OPERATOR, Resource.TOPIC, topics, Op.READ, Op.DESCRIBE, Op.DESCRIBE_CONFIGS)
    acls += _grant(
        OPERATOR, Resource.TOPIC, [dead_letter_topic(g) for g in CONSUMED_TOPICS], Op.WRITE
    )
    acls += _grant(OPERATOR, Resource.GROUP, list(CONSUMED_TOPICS), Op.DESCRIBE)
    # `shebao notifications retry` reads the notification dead letters under its own group.
    acls += _grant(OPERATOR, Resource.GROUP, [NOTIFICATION_RETRY_GROUP], Op.READ, Op.DESCRIBE)
    decisions = [f"shebao-dead-letters-{g}" for g in CONSUMED_TOPICS]
    acls += _grant(OPERATOR, Resource.TRANSACTIONAL_ID, decisions, Op.WRITE, Op.DESCRIBE)
    for user in integrators:
        acls += integrator_acls(user)
    return sorted(set(acls))


def integrator_acls(user: str) -> list[Acl]:
    """An integrator reads the four events topics under its own consumer groups: nothing else."""
    acls = _grant(user, Resource.TOPIC, list(EVENTS_TOPIC.values()), Op.READ, Op.DESCRIBE)
    return acls + [
        Acl(f"User:{user}", Resource.GROUP, integrator_group_prefix(user), op, Pattern.PREFIXED)
        for op in (Op.READ, Op.DESCRIBE)
    ]


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    """CreateAcls with many ACLs in one request (aiokafka's own builder sends one)."""

    API_KEY: ClassVar[int] = 30

    def __init__(self, acls: list[Acl]) -> None:
        self.acls = acls

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(
            [(a.resource, a.name, a.pattern, a.principal, "*", a.op, _ALLOW) for a in self.acls]
        )


class ProvisionError(RuntimeError):
    """The cluster refused an ACL; the message names it."""


async def provision(
    kafka: Kafka,
    *,
    partitions: int,
    replication_factor: int,
    integrators: tuple[str, ...] = (DEMO_INTEGRATOR,),
    wait_s: float = 0,
) -> list[str]:
    """As the cluster's admin: create the platform's topics and every ACL (both idempotent),
    once as many brokers as copies of a partition have joined (waiting up to ``wait_s``);
    return the topics created."""
    acls = acl_plan(integrators)
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        deadline = time.monotonic() + wait_s
        while len((await admin.describe_cluster())["brokers"]) < replication_factor:
            if time.monotonic() > deadline:
                raise ProvisionError(f"fewer than {replication_factor} brokers joined")
            await asyncio.sleep(1)
        created = await create_topics(
            kafka, all_topics(), partitions=partitions, replication_factor=replication_factor
        )
        await grant(admin, acls)
        await until_every_broker_holds(admin, lambda held: held >= len(acls), max(wait_s, 30))
    finally:
        await admin.close()
    return created


async def grant(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    """Create ``acls`` (idempotent: one already there is kept)."""
    response = await admin._send_request(_CreateAcls(acls))
    for acl, (code, message) in zip(acls, response.creation_responses, strict=True):
        if code:
            raise ProvisionError(f"ACL refused ({code} {message}): {acl}")


async def revoke(admin: AIOKafkaAdminClient, user: str) -> int:
    """Delete every ACL of ``user``; return how many there were."""
    response = await admin._send_request(
        DeleteAclsRequest(_ANY, None, _ANY, f"User:{user}", None, _ANY, _ANY)
    )
    deleted = 0
    for code, message, matching in response.filter_responses:
        if code:
            raise ProvisionError(f"deleting the ACLs of {user} refused ({code} {message})")
        deleted += len(matching)
    return deleted


async def until_every_broker_holds(
    admin: AIOKafkaAdminClient,
    settled: Callable[[int], bool],
    wait_s: float,
    user: str | None = None,
) -> None:
    """ACLs reach each broker through the metadata log, a moment after the controller took
    them: a service started before would be refused what it may do. Wait until the number of
    ACLs (of ``user``, or all) every broker holds is ``settled``."""
    brokers = [b["node_id"] for b in (await admin.describe_cluster())["brokers"]]
    principal = None if user is None else f"User:{user}"
    describe = DescribeAclsRequest(_ANY, None, _ANY, principal, None, _ANY, _ANY)
    deadline = time.monotonic() + wait_s
    for broker in brokers:
        while True:
            try:
                response = await admin._send_request(describe, broker)
            except (NodeNotReadyError, KafkaConnectionError) as unreachable:
                # A broker the controller lists may not be in this client's metadata yet,
                # or may not take connections yet: ask again until the deadline.
                held, why = -1, f"is not reachable yet ({type(unreachable).__name__})"
                admin._client.force_metadata_update()
            else:
                held = sum(len(resource[-1]) for resource in response.resources)
                why = f"holds {held} ACLs"
            if held >= 0 and settled(held):
                break
            if time.monotonic() > deadline:
                raise ProvisionError(f"broker {broker} {why}")
            await asyncio.sleep(0.2)


def main(
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of each topic.")] = 24,
    replication_factor: Annotated[int, typer.Option(min=1, help="Copies of each.")] = 3,
    integrator: Annotated[
        list[str] | None, typer.Option(help="An integrator user (repeat): reads only.")
    ] = None,
    wait_s: Annotated[float, typer.Option(help="How long to wait for the brokers.")] = 300,
) -> None:
    """Provision a secured cluster (compose's kafka-provision job): the platform's topics and
    ACLs, as the admin user of the environment (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SASL_*);
    with SHEBAO_ENV=production, only with an admin password of its own."""
    if os.environ.get("SHEBAO_ENV") == "production":
        try:
            kafka_security().check_production()
        except ValueError as refused:
            raise SystemExit(f"refused to start: {refused}") from None
    try:
        created = asyncio.run(
            provision(
                os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                partitions=partitions,
                replication_factor=replication_factor,
                integrators=tuple(integrator or ()),
                wait_s=wait_s,
            )
        )
    except ProvisionError as failed:
        raise SystemExit(f"provisioning failed: {failed}") from None
    print(f"topics created: {', '.join(created) or 'none (all there)'}; ACLs in place")


if __name__ == "__main__":
    typer.run(main)
