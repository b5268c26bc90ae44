"""The demo's report survives a service that does not answer: one line of JSON all the same,
naming what failed, and a failing exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deploy.paths import REPO, free_port
from deploy.stack import ServiceProcess
from tests.cli import shebao


def test_the_report_comes_when_a_service_is_down(
    services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SHEBAO_HOME": str(tmp_path),  # no stack state: the ports below are used
        **{f"{name.upper()}_PORT": str(proc.port) for name, proc in services.items()},
        "CARD_PORT": str(free_port()),  # the card service is down
    }
    result = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "demo", "--citizens", "2", "--json", "--timeout", "5"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["citizens"], report["completed"], report["failed"]) == (2, 0, 2)
    assert report["failures"]
    assert report["showcase"]["card"] is False


def test_the_delivery_log_command_reads_and_refuses_cleanly(
    services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SHEBAO_HOME": str(tmp_path),
        **{f"{name.upper()}_PORT": str(proc.port) for name, proc in services.items()},
    }

    def log(person_id: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "deploy.cli", "notifications", "log", person_id]
        return subprocess.run(
            [*command, "--json"], env=env, cwd=REPO, capture_output=True, text=True, check=False
        )

    read = log("01a24000-0000-7000-8000-000000000000")
    assert read.returncode == 0, read.stdout + read.stderr
    assert json.loads(read.stdout) == []
    for odd in ("../../x", "a\x01b"):  # an id of nobody, or a refusal: never a traceback
        answered = log(odd)
        assert answered.returncode in (0, 1)
        assert "Traceback" not in answered.stdout + answered.stderr


def test_the_demo_fits_80_columns(services: dict[str, ServiceProcess], tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "COLUMNS"},
        "SHEBAO_HOME": str(tmp_path),
        **{f"{name.upper()}_PORT": str(proc.port) for name, proc in services.items()},
    }
    result = shebao(env, "demo", "--citizens", "1", timeout_s=600)
    # (Without a stack's state it does not know the sink: the SMS scene cannot read its code.)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 20
    assert [line for line in lines if len(line) > 80] == []
