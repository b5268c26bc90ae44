"""Where the local stack keeps everything: one folder the user can see and delete."""

from __future__ import annotations

import os
import random
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shebao_home() -> Path:
    """``$SHEBAO_HOME``, else ``.shebao/`` in the repository."""
    home = Path(os.environ.get("SHEBAO_HOME", REPO / ".shebao")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def env_port(name: str, default: int) -> int:
    """A port from the environment, else the default."""
    return int(os.environ.get(name, default))


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_port_base(step: int, count: int) -> int:
    """A port p with p, p + step, … p + step·(count − 1) all free on loopback (a cluster's
    nodes, a service's replicas), below the range the kernel hands out to outgoing
    connections (one of those could take a port before its listener binds it)."""
    ceiling = _ephemeral_low() - step * count
    rng = random.SystemRandom()
    for _ in range(500):
        base = rng.randrange(10000, ceiling)
        if all(bindable(base + step * n) for n in range(count)):
            return base
    raise OSError("no free ports")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port: int) -> bool:
    """Whether a listener could bind the port on loopback now."""
    with socket.socket() as s:
        # As a server binds it (Java, uvicorn): a closed connection's TIME_WAIT does not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on the port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """SIGTERM a child process and wait; SIGKILL it only if it hangs past the timeout."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
