"""Where tests find Kafka and PostgreSQL: the environment, else testcontainers, else local.

Tests that need the real broker never skip for lack of Docker: without a Docker engine
they start the local stack (Kafka from Maven Central jars, embedded PostgreSQL).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path

from deploy.kafka import KAFKA_VERSION, KafkaNode
from deploy.paths import free_port, shebao_home
from deploy.postgres import PostgresNode
from deploy.stack import Infrastructure


@functools.cache
def docker_engine_answers() -> bool:
    """Whether a Docker engine answers a ping (not just a client on the PATH)."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def kafka_container() -> Iterator[str]:
    """A single-node KRaft broker from the official image (same version as the local jars)."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = free_port()
    container = (
        DockerContainer(f"apache/kafka:{KAFKA_VERSION}")
        .with_bind_ports(9092, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        )
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def postgres_container() -> Iterator[str]:
    """PostgreSQL 16 in a container."""
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as pg:
        yield pg.get_connection_url()


@contextlib.contextmanager
def test_infrastructure(tmp: Path) -> Iterator[Infrastructure]:
    """Kafka and PostgreSQL for a test session, each from the first source that has it."""
    with contextlib.ExitStack() as stack:
        infra = Infrastructure(
            bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""),
            database_url=os.environ.get("DATABASE_URL", ""),
        )
        if not infra.database_url:
            if docker_engine_answers():
                infra.database_url = stack.enter_context(postgres_container())
            else:
                infra.postgres = PostgresNode(tmp / "postgres", free_port())
                infra.postgres.start()
                stack.callback(infra.postgres.stop)
                infra.database_url = infra.postgres.url
        if not infra.bootstrap_servers:
            if docker_engine_answers():
                infra.bootstrap_servers = stack.enter_context(kafka_container())
            else:
                infra.kafka = KafkaNode(shebao_home(), tmp / "kafka", free_port(), free_port())
                infra.kafka.start()
                stack.callback(infra.kafka.stop)
                infra.bootstrap_servers = infra.kafka.bootstrap_servers
        yield infra
