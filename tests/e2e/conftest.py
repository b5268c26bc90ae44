"""The four services, running as real processes for the end-to-end tests of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.stack import Infrastructure, ServiceProcess
from tests.e2e.harness import running_services

#: Retries in milliseconds rather than minutes, so a failing gateway gives up within a test.
FAST_RETRIES = {
    "notification": {
        "NOTIFICATION_BACKOFF_BASE_S": "0.05",
        "NOTIFICATION_BACKOFF_MAX_S": "0.2",
        "NOTIFICATION_MAX_ATTEMPTS": "3",
    }
}


@pytest.fixture(scope="package")
def services(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    """The four services on free ports (the crash test runs its own)."""
    with running_services(infra, tmp_path_factory.mktemp("logs"), env=FAST_RETRIES) as procs:
        yield procs
