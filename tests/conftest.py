"""Session-wide fixtures: real Kafka and PostgreSQL (see tests/infra.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.stack import Infrastructure
from tests.infra import test_infrastructure


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infrastructure]:
    """Kafka and PostgreSQL for the whole test session."""
    with test_infrastructure(tmp_path_factory.mktemp("infra")) as infrastructure:
        yield infrastructure
