"""docker-compose.yml with the cluster profile (`--env-file deploy/compose/cluster.env`) and
services scaled out, run for real on a container engine: three brokers, two processes of
card and notification behind the gateway; the demo runs, a broker crashes under journeys and
every journey completes, integrators read over TLS and cannot write, and the public log has
every stored event once.

Run by `make compose-test` (deploy/engine.sh provides the engine and the images)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from deploy.demo.journeys import run_demo
from deploy.paths import REPO
from shared.topics import CARD_EVENTS
from tests.containers.test_compose import Deployment, deploy
from tests.probe import check_public_log

pytestmark = pytest.mark.containers

BROKERS = ("kafka", "kafka-2", "kafka-3")


def _cluster_settings() -> dict[str, str]:
    """The lines of deploy/compose/cluster.env, as an operator's env file gives them."""
    lines = (REPO / "deploy" / "compose" / "cluster.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    scale = ("--scale", "card=2", "--scale", "notification=2")
    yield from deploy(tmp_path_factory, _cluster_settings(), scale, BROKERS)


async def test_three_brokers_and_scaled_services_run_the_demo_through_a_broker_crash(
    cluster: Deployment,
) -> None:
    assert len(cluster.containers("card")) == 2
    assert len(cluster.containers("notification")) == 2
    first = await run_demo(cluster.endpoints, 6, seed=11)
    assert [j.failure for j in first if not j.completed] == []

    # A broker crashes while citizens are on their way: the two others carry every journey.
    # (Each client keeps retrying while the cluster fails over: the dead broker's partitions
    # get new leaders once it is fenced, and its groups a new coordinator.)
    during = asyncio.create_task(
        run_demo(cluster.endpoints, 12, concurrency=4, seed=12, timeout_s=240)
    )
    await asyncio.sleep(1)
    before = cluster.crash("kafka-2")
    # A broker killed mid-write recovers each of its ~240 partition logs before it serves
    # again: about two minutes on two shared cores.
    await asyncio.to_thread(cluster.wait_restarted, "kafka-2", before, 420)
    assert [j.failure for j in await during if not j.completed] == []

    counts = await check_public_log(
        cluster.kafka(), lambda service: asyncio.to_thread(cluster.stored_events, service)
    )
    assert all(counts.values()), counts
    print(f"events per topic {counts}")


async def test_an_integrator_reads_over_tls_and_cannot_write(cluster: Deployment) -> None:
    integrator = cluster.kafka("integrator-demo")
    consumer = AIOKafkaConsumer(
        CARD_EVENTS, **integrator, group_id="integrator.demo.check", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10000)
    finally:
        await consumer.stop()
    assert sum(len(b) for b in batches.values()) > 0
    producer = AIOKafkaProducer(**integrator, request_timeout_ms=10000)
    try:
        await producer.start()
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(CARD_EVENTS, b"{}", key=b"forged")
    finally:
        await producer.stop()


async def test_the_operator_adds_an_integrator_in_compose(cluster: Deployment) -> None:
    # README: as the cluster's admin, where its credentials are (the kafka-provision job).
    made = cluster.compose(
        "run", "--rm", "--no-deps", "kafka-provision",
        "python", "-m", "deploy.integrator_users", "add", "bank", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    access = json.loads(made.stdout.strip().splitlines()[-1])
    assert access["user"] == "integrator-bank"
    bank = cluster.kafka("integrator-bank", access["password"])
    consumer = AIOKafkaConsumer(
        CARD_EVENTS, **bank, group_id="integrator.bank.cards", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10000)
    finally:
        await consumer.stop()
    assert sum(len(b) for b in batches.values()) > 0
    stolen = AIOKafkaConsumer(CARD_EVENTS, **bank, group_id="integrator.demo.check")
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await stolen.start()
    finally:
        await stolen.stop()
