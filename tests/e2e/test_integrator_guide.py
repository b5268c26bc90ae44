"""The integrator guide's commands work as pasted (deploy/integrators/README.md): each shell
and Python block is run against the test stack, only its addresses changed."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from deploy.demo.journeys import run_demo
from deploy.paths import REPO
from deploy.stack import Infrastructure, ServiceProcess
from tests.e2e.harness import endpoints

GUIDE = REPO / "deploy" / "integrators" / "README.md"
BLOCKS = re.findall(r"```(sh|python)\n(.*?)```", GUIDE.read_text(), re.DOTALL)


def _aimed(text: str, infra: Infrastructure) -> str:
    """The block with the local stack's addresses replaced by the test stack's."""
    return (
        text.replace("127.0.0.1:9092", infra.bootstrap_servers)
        .replace("postgresql://postgres@127.0.0.1:55432/postgres", infra.database_url)
        .replace(".venv/bin/python", sys.executable)
    )


@pytest.fixture(scope="module")
async def journeys(services: dict[str, ServiceProcess]) -> None:
    [journey] = await run_demo(endpoints(services), 1, seed=20261206)
    assert journey.failure is None


def test_the_guide_has_commands_of_each_kind() -> None:
    kinds = [kind for kind, _ in BLOCKS]
    assert kinds.count("sh") >= 3
    assert kinds.count("python") >= 1


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_each_block_works_as_pasted(number: int, journeys: None, infra: Infrastructure) -> None:
    del journeys
    kind, text = BLOCKS[number]
    command = ["bash", "-euo", "pipefail", "-c"] if kind == "sh" else [sys.executable, "-c"]
    result = subprocess.run(
        [*command, _aimed(text, infra)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, (text, result.stderr[-2000:])
    assert result.stdout.strip(), text
    if "kcat" in text:
        assert "event_type=CardApplied" in result.stdout, result.stdout[-2000:]
    if kind == "python":
        assert "CardApplied" in result.stdout, result.stdout
