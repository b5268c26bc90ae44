"""The four services, running as real processes for the end-to-end tests of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.stack import Infrastructure, ServiceProcess
from tests.e2e.harness import running_services


@pytest.fixture(scope="package")
def services(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    """The four services on free ports (the crash test runs its own)."""
    with running_services(infra, tmp_path_factory.mktemp("logs")) as procs:
        yield procs
