"""Embedded PostgreSQL: the binaries of the pgserver wheel, on a loopback TCP port."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from deploy.paths import port_open

PG_USER = "postgres"


def _bin(name: str) -> str:
    with warnings.catch_warnings():
        # pgserver's import looks for a runtime dir we do not use (we run our own server).
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _system_user(path: Path) -> str | None:
    """PostgreSQL refuses to run as root: then run it as pgserver's own system user."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    ensure_user_exists("pgserver")
    ensure_prefix_permissions(path)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
    entry = pwd.getpwnam("pgserver")
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return "pgserver"


@dataclass
class PostgresNode:
    """A PostgreSQL server whose cluster lives in ``data_dir``."""

    data_dir: Path
    port: int = 55432

    @property
    def url(self) -> str:
        """Connection URL for asyncpg."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def start(self, timeout_s: float = 60) -> None:
        """initdb on first use, then start listening on 127.0.0.1 only."""
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken: set SHEBAO_PG_PORT to another")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _system_user(self.data_dir)
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            if user:
                pgdata.mkdir(exist_ok=True)
                os.chown(pgdata, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
            subprocess.run(
                [
                    _bin("initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                check=True,
                user=user,
                stdout=subprocess.DEVNULL,
            )
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {pgdata} -c max_connections=200"
            " -c fsync=on -c shared_buffers=256MB"
        )
        subprocess.run(
            [
                _bin("pg_ctl"),
                "-D",
                str(pgdata),
                "-o",
                options,
                "-l",
                str(self.data_dir / "postgres.log"),
                "-w",
                "-t",
                str(int(timeout_s)),
                "start",
            ],
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start; see {self.data_dir}/postgres.log")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (fast shutdown: rolls back open transactions, keeps data)."""
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "postmaster.pid").exists():
            return
        user = _system_user(self.data_dir)
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            check=False,
            user=user,
            stdout=subprocess.DEVNULL,
        )
