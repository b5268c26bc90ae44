"""Running the ``shebao`` command as an operator would, in its own process."""

from __future__ import annotations

import subprocess
import sys

from deploy.paths import REPO


def shebao(
    env: dict[str, str], *args: str, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """``shebao ARGS`` in ``env``: its exit code and what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
