"""The Locust scenario (deploy/load/locustfile.py) aimed at a running stack by its URLs: whole
journeys complete under ramp-up, and the report gives p50/p95/p99 as CSV and HTML."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from deploy.paths import REPO
from deploy.stack import ServiceProcess


def test_journeys_under_locust_with_a_report(
    services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **{f"SHEBAO_{name.upper()}_URL": proc.url for name, proc in services.items()},
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "locust"),
            *("-f", "deploy/load/locustfile.py", "--headless", "--only-summary"),
            *("-u", "3", "-r", "1", "-t", "15s"),
            *("--csv", str(tmp_path / "journeys"), "--html", str(tmp_path / "journeys.html")),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with (tmp_path / "journeys_stats.csv").open() as f:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    whole = rows[("JOURNEY", "whole journey")]
    assert int(whole["Request Count"]) >= 3, whole
    assert int(whole["Failure Count"]) == 0, whole
    for percentile in ("50%", "95%", "99%"):
        assert float(whole[percentile]) > 0, percentile
    assert ("POST", "/v1/verifications") in rows
    assert (tmp_path / "journeys.html").stat().st_size > 10_000
