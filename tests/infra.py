"""Where tests find Kafka and PostgreSQL: the environment, else testcontainers, else local.

Tests that need the real broker never skip for lack of Docker: without a Docker engine
they start the local stack (Kafka from Maven Central jars, embedded PostgreSQL).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


#: The official images; where no registry is reachable, deploy/engine.sh builds equivalents
#: from Debian's packages and names them in these variables.
KAFKA_IMAGE = os.environ.get("KAFKA_IMAGE") or f"apache/kafka:{KAFKA_VERSION}"
POSTGRES_IMAGE = os.environ.get("POSTGRES_IMAGE") or "postgres:16-alpine"
_KAFKA_START = "/tmp/shebao-kafka-start.sh"  # noqa: S108 - inside the container


@contextlib.contextmanager
def kafka_container() -> Iterator[str]:
    """A single-node KRaft broker (same version as the local jars), advertised at the address
    and port the engine gives it: the container waits for its start script, written once the
    mapped port is known."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_exposed_ports(9092)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        # Clients reach PLAINTEXT at the engine's address; the broker reaches itself (the
        # transaction coordinator does) on BROKER, inside the container.
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,BROKER://:9094,CONTROLLER://:9093")
        .with_env("KAFKA_INTER_BROKER_LISTENER_NAME", "BROKER")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT",
        )
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        .with_command(
            ["sh", "-c", f"while [ ! -f {_KAFKA_START} ]; do sleep 0.1; done; sh {_KAFKA_START}"]
        )
    )
    with container:
        address = f"{container.get_container_host_ip()}:{container.get_exposed_port(9092)}"
        script = (
            "export KAFKA_ADVERTISED_LISTENERS="
            f"PLAINTEXT://{address},BROKER://localhost:9094\nexec /etc/kafka/docker/run\n"
        ).encode()
        _put_file(container, _KAFKA_START, script)
        LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(120).wait_until_ready(
            container
        )
        yield address


def _put_file(container: Any, path: str, content: bytes) -> None:
    """Copy one file into a running container."""
    with io.BytesIO() as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
        container.get_wrapped_container().put_archive("/", archive.getvalue())


@contextlib.contextmanager
def postgres_container() -> Iterator[str]:
    """PostgreSQL in a container, at the address the engine gives it."""
    from testcontainers.community.postgres import PostgresContainer

    with PostgresContainer(POSTGRES_IMAGE, driver=None) as pg:
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
