"""The secured cluster's plan, without a broker: who may write and read what, the users'
credentials, and the proxy in front of a service's replicas."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from pathlib import Path
from types import SimpleNamespace

from aiokafka.errors import NodeNotReadyError
from cryptography import x509

from deploy.kafka_acl import Op, Pattern, Resource, acl_plan, until_every_broker_holds
from deploy.kafka_security import DEMO_INTEGRATOR, OPERATOR, USERS, ClusterSecurity
from deploy.paths import free_port
from deploy.proxy import PROBE_EVERY_S, PROBE_TIMEOUT_S, serve
from shared.topics import CONSUMED_TOPICS, EVENTS_TOPIC, all_topics, dead_letter_topic


def _may(user: str, op: Op) -> set[str]:
    return {
        a.name
        for a in acl_plan()
        if a.principal == f"User:{user}" and a.op == op and a.resource == Resource.TOPIC
    }


def test_each_service_writes_only_its_own_topic_and_its_dead_letters() -> None:
    for service, consumed in CONSUMED_TOPICS.items():
        assert _may(service, Op.WRITE) == {EVENTS_TOPIC[service], dead_letter_topic(service)}
        assert _may(service, Op.READ) == {
            EVENTS_TOPIC[service],
            dead_letter_topic(service),
            *consumed,
        }
    writers = {a.principal for a in acl_plan() if a.op == Op.WRITE and a.name == "card.events"}
    assert writers == {"User:card"}


def test_the_operator_decides_dead_letters_and_integrators_only_read() -> None:
    assert _may(OPERATOR, Op.WRITE) == {dead_letter_topic(g) for g in CONSUMED_TOPICS}
    assert _may(OPERATOR, Op.READ) == set(all_topics())
    assert _may(DEMO_INTEGRATOR, Op.WRITE) == set()
    assert _may(DEMO_INTEGRATOR, Op.READ) == set(EVENTS_TOPIC.values())
    groups = {
        (a.name, a.pattern)
        for a in acl_plan()
        if a.principal == f"User:{DEMO_INTEGRATOR}" and a.resource == Resource.GROUP
    }
    assert groups == {("integrator.demo.", Pattern.PREFIXED)}
    # Every ACL names a user of the cluster; none allows everyone.
    assert {a.principal for a in acl_plan()} <= {f"User:{u}" for u in USERS}


class _JoiningCluster:
    """An admin client whose second broker is listed by the controller before this client
    can reach it (what a compose cluster's provisioning job met), then holds the ACLs."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.refreshed = 0
        self._client = self

    def force_metadata_update(self) -> None:
        self.refreshed += 1

    async def describe_cluster(self) -> dict[str, list[dict[str, int]]]:
        return {"brokers": [{"node_id": 1}, {"node_id": 2}]}

    async def _send_request(self, request: object, node: int) -> object:
        self.asked.append(node)
        if node == 2 and self.asked.count(2) < 3:
            raise NodeNotReadyError(f"node {node} not ready")
        return SimpleNamespace(resources=[("topic", "card.events", 3, [object()] * 5)])


async def test_provisioning_waits_for_a_broker_not_reachable_yet() -> None:
    cluster = _JoiningCluster()
    await until_every_broker_holds(cluster, lambda held: held >= 5, wait_s=5)  # type: ignore[arg-type]
    assert cluster.asked == [1, 2, 2, 2]
    assert cluster.refreshed == 2


def test_credentials_are_made_once_private_and_distinct(tmp_path: Path) -> None:
    made = ClusterSecurity.load_or_create(tmp_path / "security")
    again = ClusterSecurity.load_or_create(tmp_path / "security")
    assert made.passwords == again.passwords
    assert set(made.passwords) == set(USERS)
    assert len(set(made.passwords.values())) == len(USERS)
    for private in ("credentials.json", "server.pem"):
        mode = stat.S_IMODE((tmp_path / "security" / private).stat().st_mode)
        assert mode == 0o600, private
    ca = x509.load_pem_x509_certificate(made.ca_file.read_bytes())
    server = x509.load_pem_x509_certificates((tmp_path / "security" / "server.pem").read_bytes())[0]
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    props = made.server_properties(external=True)
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["listener.security.protocol.map"] == (
        "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,EXTERNAL:SASL_SSL"
    )


async def _replica(name: bytes) -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name + await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _ask(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"?")
    await writer.drain()
    answer = await reader.read(100)
    writer.close()
    return answer


async def test_the_proxy_takes_replicas_in_turn_and_passes_over_one_that_is_down() -> None:
    one, one_port = await _replica(b"one")
    two, two_port = await _replica(b"two")
    down_port = free_port()
    port = free_port()
    targets = [("127.0.0.1", one_port), ("127.0.0.1", two_port), ("127.0.0.1", down_port)]
    proxy = asyncio.create_task(serve("127.0.0.1", port, targets))
    try:
        for _ in range(50):
            with contextlib.suppress(OSError):
                await _ask(port)
                break
            await asyncio.sleep(0.05)
        answers = [await _ask(port) for _ in range(6)]
        assert sorted(set(answers)) == [b"one?", b"two?"]
        assert answers.count(b"one?") >= 2
        assert answers.count(b"two?") >= 2
        two.close()
        await two.wait_closed()
        assert {await _ask(port) for _ in range(4)} == {b"one?"}
        one.close()
        await one.wait_closed()
        assert await _ask(port) == b""  # no replica answers: the connection is closed
    finally:
        proxy.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await proxy


async def test_the_proxy_passes_over_a_replica_that_stopped_answering() -> None:
    # A frozen replica (SIGSTOP, a hung loop) still accepts connections: the kernel does.
    # Its health path no longer answers, so new connections go to the others.
    async def good(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\ngood")
        await writer.drain()
        writer.close()

    async def frozen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    servers = [await asyncio.start_server(h, "127.0.0.1", 0) for h in (good, frozen)]
    targets = [("127.0.0.1", s.sockets[0].getsockname()[1]) for s in servers]
    port = free_port()
    proxy = asyncio.create_task(serve("127.0.0.1", port, targets, health_path="/ready"))
    try:
        await asyncio.sleep(PROBE_EVERY_S + PROBE_TIMEOUT_S + 0.5)  # one probe round
        for _ in range(4):
            async with asyncio.timeout(5):
                assert (await _ask(port)).endswith(b"good")
    finally:
        proxy.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await proxy
        for server in servers:
            server.close()
