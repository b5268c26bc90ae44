"""Session-wide fixtures: real Kafka and PostgreSQL (see tests/infra.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deploy.stack import Infrastructure
from tests.infra import docker_engine_answers, test_infrastructure


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infrastructure]:
    """Kafka and PostgreSQL for the whole test session."""
    with test_infrastructure(tmp_path_factory.mktemp("infra")) as infrastructure:
        yield infrastructure


def pytest_report_header() -> str:
    """Say where the tests' Kafka and PostgreSQL come from."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        return "Kafka and PostgreSQL: from the environment"
    if docker_engine_answers():
        return f"Kafka and PostgreSQL: testcontainers on {os.environ.get('DOCKER_HOST', 'Docker')}"
    return "Kafka and PostgreSQL: the local stack (no container engine answers)"
