"""A service's one address in front of its replicas: each new connection goes to the next
replica in turn (every address a name resolves to, so compose's ``--scale`` works through its
DNS); a replica that refuses is passed over. TCP only: HTTP, keep-alive and streaming pass
through unchanged.

    python -m deploy.proxy --route 8001=127.0.0.1:8101,127.0.0.1:8201
    python -m deploy.proxy --route 8001=identity:8001 --route 8002=card:8002   (compose:
        every replica of each, as compose's DNS names them)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from typing import Annotated

import structlog
import typer

log = structlog.get_logger(__name__)

#: How long a connection to one replica may take before the next is tried.
CONNECT_TIMEOUT_S = 2.0


class RoundRobin:
    """Picks replicas in turn over every address the targets resolve to now."""

    def __init__(self, targets: list[tuple[str, int]]) -> None:
        self.targets = targets
        self._turn = itertools.count()

    async def addresses(self) -> list[tuple[str, int]]:
        """Every replica address, starting with this connection's turn."""
        loop = asyncio.get_running_loop()
        found: list[tuple[str, int]] = []
        for host, port in self.targets:
            with contextlib.suppress(OSError):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                found += [(str(info[4][0]), port) for info in infos]
        found = sorted(set(found))
        if not found:
            return []
        start = next(self._turn) % len(found)
        return found[start:] + found[:start]

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the next replica that accepts one, or None when none does."""
        for host, port in await self.addresses():
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    return await asyncio.open_connection(host, port)
            except (OSError, TimeoutError):
                log.warning("replica_refused", address=f"{host}:{port}")
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _serve_one(
    balancer: RoundRobin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    upstream = await balancer.connect()
    if upstream is None:
        writer.close()
        return
    up_reader, up_writer = upstream
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        for w in (writer, up_writer):
            w.close()
            with contextlib.suppress(ConnectionError, OSError):
                await w.wait_closed()


async def serve(host: str, port: int, targets: list[tuple[str, int]]) -> None:
    """Accept on ``host:port`` and pass each connection to a replica, until cancelled."""
    balancer = RoundRobin(targets)
    server = await asyncio.start_server(
        lambda r, w: _serve_one(balancer, r, w), host, port, reuse_address=True
    )
    log.info("proxy_listening", port=port, replicas=[f"{h}:{p}" for h, p in targets])
    async with server:
        await server.serve_forever()


def _route(value: str) -> tuple[int, list[tuple[str, int]]]:
    """``8001=identity:8001,other:8001`` → the port to listen on and its replicas."""
    listen, _, targets = value.partition("=")
    try:
        replicas = []
        for target in targets.split(","):
            host, _, port = target.rpartition(":")
            if not host:
                raise ValueError(target)
            replicas.append((host, int(port)))
        return int(listen), replicas
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not PORT=HOST:PORT[,HOST:PORT…]") from None


async def _serve_all(host: str, routes: list[tuple[int, list[tuple[str, int]]]]) -> None:
    await asyncio.gather(*(serve(host, port, targets) for port, targets in routes))


def main(
    route: Annotated[
        list[str], typer.Option(help="PORT=HOST:PORT[,HOST:PORT…]: a port and its replicas.")
    ],
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
) -> None:
    """Pass each connection to the next replica."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_all(host, [_route(r) for r in route]))


if __name__ == "__main__":
    typer.run(main)
