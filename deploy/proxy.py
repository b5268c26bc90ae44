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
#: Each replica's health is asked this often; one that does not answer within the timeout
#: (frozen, overloaded) gets no new connection until it answers again.
PROBE_EVERY_S = 2.0
PROBE_TIMEOUT_S = 2.0


class RoundRobin:
    """Picks replicas in turn over every address the targets resolve to now."""

    def __init__(self, targets: list[tuple[str, int]], health_path: str | None = None) -> None:
        self.targets = targets
        self.health_path = health_path
        self.unhealthy: set[tuple[str, int]] = set()
        self._turn = itertools.count()

    async def resolve(self) -> list[tuple[str, int]]:
        """Every replica address the targets name now."""
        loop = asyncio.get_running_loop()
        found: list[tuple[str, int]] = []
        for host, port in self.targets:
            with contextlib.suppress(OSError):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                found += [(str(info[4][0]), port) for info in infos]
        return sorted(set(found))

    async def addresses(self) -> list[tuple[str, int]]:
        """Every replica address, the healthy first (all, when none is), starting with this
        connection's turn."""
        every = await self.resolve()
        found = [a for a in every if a not in self.unhealthy] or every
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

    async def probe(self) -> None:
        """Ask each replica's health path, over and over (until cancelled)."""
        assert self.health_path is not None
        while True:
            every = await self.resolve()
            answers = await asyncio.gather(*(self._healthy(a) for a in every))
            down = {a for a, ok in zip(every, answers, strict=True) if not ok}
            for address in down - self.unhealthy:
                log.warning("replica_unhealthy", address=f"{address[0]}:{address[1]}")
            self.unhealthy = down
            await asyncio.sleep(PROBE_EVERY_S)

    async def _healthy(self, address: tuple[str, int]) -> bool:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(*address)
                try:
                    request = f"GET {self.health_path} HTTP/1.0\r\nHost: {address[0]}\r\n\r\n"
                    writer.write(request.encode())
                    await writer.drain()
                    status = await reader.readline()
                finally:
                    writer.close()
            return status.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError, IndexError):
            return False


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


async def serve(
    host: str, port: int, targets: list[tuple[str, int]], health_path: str | None = None
) -> None:
    """Accept on ``host:port`` and pass each connection to a replica, until cancelled; with
    ``health_path``, replicas that do not answer it are passed over."""
    balancer = RoundRobin(targets, health_path)
    server = await asyncio.start_server(
        lambda r, w: _serve_one(balancer, r, w), host, port, reuse_address=True
    )
    log.info("proxy_listening", port=port, replicas=[f"{h}:{p}" for h, p in targets])
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(server)
        if health_path is not None:
            probing = asyncio.create_task(balancer.probe())
            stack.callback(probing.cancel)
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


async def _serve_all(
    host: str, routes: list[tuple[int, list[tuple[str, int]]]], health_path: str | None
) -> None:
    await asyncio.gather(*(serve(host, port, targets, health_path) for port, targets in routes))


def main(
    route: Annotated[
        list[str], typer.Option(help="PORT=HOST:PORT[,HOST:PORT…]: a port and its replicas.")
    ],
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    health_path: Annotated[
        str | None, typer.Option(help="HTTP path a healthy replica answers 200 (e.g. /ready).")
    ] = None,
) -> None:
    """Pass each connection to the next replica."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_all(host, [_route(r) for r in route], health_path))


if __name__ == "__main__":
    typer.run(main)
