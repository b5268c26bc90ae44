"""The platform on a three-broker KRaft cluster with two processes of each service
(``make cluster-test``), as ``shebao up --brokers 3 --replicas 2`` runs it: topics replicated
three times, SASL/SCRAM and ACLs on every listener, TLS for integrators; journeys complete
while a broker is killed, each service's replicas are restarted one by one and a replica is
killed mid-batch, and afterwards nothing is lost, nothing is there twice and no one was told
anything twice.

Its own cluster, PostgreSQL and services on free loopback ports; bounded in time.

    CLUSTER_JOURNEYS=40 make cluster-test
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from deploy.dead_letters import DeadLetterError, dead_letters, decide
from deploy.demo.citizens import fake_citizen
from deploy.integrator_users import add_integrator, integrators, remove_integrator
from deploy.kafka import CLUSTER_PARTITIONS, NODE_PORT_STEP
from deploy.kafka_security import ADMIN, DEMO_INTEGRATOR, OPERATOR
from deploy.kafka_users import UserRefused
from deploy.paths import free_port_base, shebao_home
from deploy.stack import REPLICA_PORT_STEP, SERVICES, Stack, start_infrastructure
from shared.kafka import KafkaSecurity
from shared.topics import CARD_EVENTS, EVENTS_TOPIC, all_topics
from tests.e2e.harness import endpoints
from tests.probe import check_public_log
from tests.supervised import Turns, check_rebuilds, check_told_once, stored_events

pytestmark = pytest.mark.cluster

JOURNEYS = int(os.environ.get("CLUSTER_JOURNEYS", "24"))
CONCURRENCY = int(os.environ.get("CLUSTER_CONCURRENCY", "4"))
REPLICAS = 2
TIME_LIMIT_S = 600


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A secured three-broker cluster, PostgreSQL, the sink and two processes of each service
    behind their proxies, as `shebao up --brokers 3 --replicas 2` starts them."""
    data = tmp_path_factory.mktemp("cluster")
    brokers = [free_port_base(NODE_PORT_STEP, 3) for _ in range(3)]
    with pytest.MonkeyPatch.context() as env:
        for name in (*SERVICES, "sink", "sink_smtp", "console"):
            port = free_port_base(REPLICA_PORT_STEP, REPLICAS + 1)
            env.setenv(f"{name.upper()}_PORT", str(port))
        env.delenv("NOTIFICATION_SMS_URL", raising=False)
        infra = start_infrastructure(
            shebao_home(),
            data,
            kafka_port=brokers[0],
            controller_port=brokers[1],
            external_port=brokers[2],
            pg_port=free_port_base(1, 1),
            use_environment=False,
            brokers=3,
        )
        stack = Stack(infra)
        try:
            stack.start_services(data / "logs", replicas=REPLICAS)
            yield stack
        finally:
            stack.stop()


def _as(stack: Stack, user: str) -> dict[str, object]:
    assert stack.infra.kafka is not None
    assert stack.infra.kafka.security is not None
    return stack.infra.kafka.security.client_options(user, stack.infra.bootstrap_servers)


def _external(stack: Stack, user: str, password: str | None = None) -> dict[str, object]:
    """A client of the TLS listener integrators reach, as ``user``."""
    kafka = stack.infra.kafka
    assert kafka is not None
    assert kafka.security is not None
    security = KafkaSecurity(
        protocol="SASL_SSL",
        username=user,
        password=password or kafka.security.passwords[user],
        ca_file=kafka.security.ca_file,
    )
    return {"bootstrap_servers": kafka.external_servers, **security.options()}


async def _produce(options: dict[str, object], topic: str) -> None:
    producer = AIOKafkaProducer(**options, request_timeout_ms=10000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, b"{}", key=b"forged")
    finally:
        await producer.stop()


async def test_topics_are_replicated_three_times_with_two_in_sync(stack: Stack) -> None:
    admin = AIOKafkaAdminClient(**_as(stack, OPERATOR))
    await admin.start()
    try:
        described = await admin.describe_topics(all_topics())
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in EVENTS_TOPIC.values()]
        )
    finally:
        await admin.close()
    for topic in described:
        assert topic["error_code"] == 0, topic
        assert len(topic["partitions"]) == CLUSTER_PARTITIONS, topic["topic"]
        assert {len(p["replicas"]) for p in topic["partitions"]} == {3}, topic["topic"]
        leaders = Counter(p["leader"] for p in topic["partitions"])
        assert len(leaders) == 3, f"{topic['topic']}: leaders on {leaders}"
    min_isr = {
        name: value
        for response in configs
        for _code, _msg, _type, _topic, entries in response.resources
        for name, value, *_ in entries
        if name == "min.insync.replicas"
    }
    assert min_isr == {"min.insync.replicas": "2"}


async def test_only_a_topics_owner_writes_it_and_integrators_only_read(stack: Stack) -> None:
    # The card service writes card.events; notification, the operator and an integrator may
    # not (a forged CardMailed would make the platform tell a citizen of a card that is not).
    await _produce(_as(stack, "card"), CARD_EVENTS)
    for user in ("notification", OPERATOR):
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(_as(stack, user), CARD_EVENTS)
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(_external(stack, DEMO_INTEGRATOR), CARD_EVENTS)
    # No one without the cluster's credentials gets in at all: a wrong password, no SASL.
    with pytest.raises(KafkaError):
        await _produce(_external(stack, DEMO_INTEGRATOR, password="guessed-password"), CARD_EVENTS)
    plaintext = {"bootstrap_servers": stack.infra.bootstrap_servers}
    with pytest.raises((KafkaConnectionError, KafkaError)):
        await asyncio.wait_for(_produce(plaintext, CARD_EVENTS), 30)

    # The integrator reads every event topic over TLS under its own groups, not a service's.
    consumer = AIOKafkaConsumer(
        CARD_EVENTS,
        **_external(stack, DEMO_INTEGRATOR),
        group_id="integrator.demo.letters",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10000)
        assert sum(len(b) for b in batches.values()) >= 1
        await consumer.commit()
    finally:
        await consumer.stop()
    stolen = AIOKafkaConsumer(
        CARD_EVENTS,
        **_external(stack, DEMO_INTEGRATOR),
        group_id="notification",
        auto_offset_reset="earliest",
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await stolen.start()
    finally:
        await stolen.stop()
    # The TLS listener's certificate is checked: a client that trusts another CA is refused.
    untrusted = _external(stack, DEMO_INTEGRATOR)
    untrusted["ssl_context"] = ssl.create_default_context()
    with pytest.raises((KafkaConnectionError, KafkaError)):
        await asyncio.wait_for(_produce(untrusted, CARD_EVENTS), 30)


async def test_journeys_survive_a_broker_kill_rolling_restarts_and_a_replica_killed(
    stack: Stack, tmp_path: Path
) -> None:
    urls = endpoints({n: p for n, p in stack.services.items() if n not in stack.replicas})
    turns = Turns(stack, tmp_path / "restart")
    rng = random.Random(18)
    citizens = [fake_citizen(rng) for _ in range(JOURNEYS)]

    async def turbulence() -> None:
        await asyncio.sleep(3)
        await asyncio.to_thread(turns.kill, "kafka-2")  # a broker dies
        for service in SERVICES:  # each service's replicas restarted one by one
            for n in range(1, REPLICAS + 1):
                await asyncio.to_thread(turns.restart, f"{service}-{n}")
        await asyncio.to_thread(turns.kill, "card-1")  # a replica dies mid-batch

    started = time.monotonic()
    journeys = await turns.journeys_during(urls, citizens, CONCURRENCY, turbulence, TIME_LIMIT_S)
    print(
        f"\n{len(journeys)} journeys in {time.monotonic() - started:.0f}s on 3 brokers and"
        f" {REPLICAS} replicas each; seconds until each part was back: {turns.took}"
    )
    assert len(journeys) == JOURNEYS, "the time limit ran out"
    assert [j.failure for j in journeys if j.failure] == []

    # Nothing lost, nothing twice, no stream out of order, on the log integrators read.
    database, operator = stack.infra.database_url, _as(stack, OPERATOR)
    counts = await check_public_log(operator, lambda service: stored_events(database, service))
    print(f"events per topic {counts}")

    await check_told_once(stack.services["sink"].url, citizens, journeys)

    await check_rebuilds(database, operator)


def test_the_example_integrator_reads_over_tls_as_readme_says(stack: Stack) -> None:
    # README: KAFKA_SASL_PASSWORD=... python -m deploy.integrators.bank --bootstrap
    # localhost:9094 --username integrator-demo --ca-file .../ca.pem --group integrator.demo.bank
    kafka = stack.infra.kafka
    assert kafka is not None
    assert kafka.security is not None
    env = {**os.environ, "KAFKA_SASL_PASSWORD": kafka.security.passwords[DEMO_INTEGRATOR]}
    command = [sys.executable, "-m", "deploy.integrators.bank"]
    command += ["--bootstrap", kafka.external_servers.split(",")[0]]
    command += ["--username", DEMO_INTEGRATOR, "--ca-file", str(kafka.security.ca_file)]
    command += ["--group", "integrator.demo.bank", "--until-idle", "5"]
    command += ["--database-url", stack.infra.database_url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1])["applied"] > 0, done.stdout
    # Under a group that is not its own, the same user reads nothing.
    stolen = [*command[:-4], "--group", "card", "--until-idle", "5", *command[-2:]]
    refused = subprocess.run(stolen, env=env, capture_output=True, text=True, timeout=180)
    assert refused.returncode != 0
    assert "GroupAuthorizationFailed" in refused.stderr, refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr  # one line says why


async def test_the_operator_decides_a_dead_letter_on_the_cluster(stack: Stack) -> None:
    # A record the groups cannot read, written by the topic's owner, is parked by each group
    # that reads it; the operator (its own user, a transactional id of its own) redrives one
    # and skips another, and the groups go on.
    for _ in range(2):
        await _produce(_as(stack, "card"), CARD_EVENTS)  # b"{}": no envelope
    operator = _as(stack, OPERATOR)
    deadline = time.monotonic() + 60
    while len(parked := await dead_letters(operator, "notification")) < 2:
        assert time.monotonic() < deadline, parked
        await asyncio.sleep(1)
    first, second = parked[-2:]
    await decide(operator, "notification", first.ref, "redrive", by="test", note="try again")
    await decide(operator, "notification", second.ref, "skip", by="test", note="junk")
    states = {d.ref: d.state for d in await dead_letters(operator, "notification")}
    assert states[first.ref] == "redriven"
    assert states[second.ref] == "skipped"
    # No one else decides: a service's user may not take the operator's transactional id.
    with pytest.raises(DeadLetterError, match="may not decide"):
        await decide(
            _as(stack, "notification"), "notification", second.ref, "skip", by="x", note="y"
        )


async def _read_on(consumer: AIOKafkaConsumer) -> None:
    """Fetch and commit, for 10 s at most (until the cluster refuses)."""
    for _ in range(20):
        await consumer.getmany(timeout_ms=500)
        await consumer.commit()


async def test_an_operator_adds_rotates_and_removes_an_integrator(stack: Stack) -> None:
    # `shebao integrators add hospital`: a user of its own that reads under its own groups.
    admin = AIOKafkaAdminClient(**_as(stack, ADMIN))
    await admin.start()
    try:
        password = await add_integrator(admin, "hospital")
        user = "integrator-hospital"
        assert user in await integrators(admin)
        with pytest.raises(UserRefused, match="exists"):
            await add_integrator(admin, "hospital")
        with pytest.raises(UserRefused, match="no integrator-hospitl to rotate"):
            await add_integrator(admin, "hospitl", rotate=True)
        reader = AIOKafkaConsumer(
            CARD_EVENTS,
            **_external(stack, user, password),
            group_id="integrator.hospital.claims",
            auto_offset_reset="earliest",
        )
        await reader.start()
        try:
            batches = await reader.getmany(timeout_ms=10000)
            assert sum(len(b) for b in batches.values()) >= 1
            with pytest.raises(TopicAuthorizationFailedError):
                await _produce(_external(stack, user, password), CARD_EVENTS)
            demo_group = AIOKafkaConsumer(
                CARD_EVENTS, **_external(stack, user, password), group_id="integrator.demo.x"
            )
            try:
                with pytest.raises(GroupAuthorizationFailedError):
                    await demo_group.start()
            finally:
                await demo_group.stop()

            # A new password: the old one no longer signs in, the new one does.
            rotated = await add_integrator(admin, "hospital", rotate=True)
            with pytest.raises(KafkaError):
                await _produce(_external(stack, user, password), CARD_EVENTS)
            with pytest.raises(TopicAuthorizationFailedError):
                await _produce(_external(stack, user, rotated), CARD_EVENTS)

            # Removed: the connection already open reads no more, and no one signs in as it.
            await remove_integrator(admin, "hospital")
            with pytest.raises((GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
                await _read_on(reader)
        finally:
            await reader.stop()
        with pytest.raises(KafkaError):
            await _produce(_external(stack, user, rotated), CARD_EVENTS)
        assert user not in await integrators(admin)
        with pytest.raises(UserRefused, match="no integrator-hospital"):
            await remove_integrator(admin, "hospital")
    finally:
        await admin.close()
