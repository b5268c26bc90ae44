"""The container image's HEALTHCHECK: is the process this container runs ready?

It finds what runs from the container's command (``python -m services.<name>``, the local
delivery sink or the operator console) and asks its ``/ready`` on loopback; exit 0 when
ready, 1 when not. Compose sets its own checks; this one serves the image anywhere else
(``docker run``, Kubernetes).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

from deploy.stack import DEFAULT_PORTS

SINK_PORT = 8025
CONSOLE_PORT = 8030


def ready_url(command: list[str]) -> str:
    """The ``/ready`` of what ``command`` runs."""
    for name, port in DEFAULT_PORTS.items():
        if f"services.{name}" in command:
            return f"http://127.0.0.1:{os.environ.get(f'{name.upper()}_PORT', port)}/ready"
    if "--port" in command:  # the sink, the console
        return f"http://127.0.0.1:{command[command.index('--port') + 1]}/ready"
    if "deploy.console" in command:
        return f"http://127.0.0.1:{CONSOLE_PORT}/ready"
    return f"http://127.0.0.1:{SINK_PORT if 'deploy.demo.sink' in command else 8001}/ready"


def main() -> int:
    """0 when ready, 1 when not."""
    command = Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    try:
        with urllib.request.urlopen(ready_url(command), timeout=4) as answer:  # noqa: S310 - loopback
            return 0 if answer.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
