"""A secured cluster's users and TLS files: SASL/SCRAM-SHA-512 for clients and between brokers,
SASL/PLAIN between controllers (KRaft cannot use SCRAM there: its users live in the metadata
the controllers serve), TLS on the listener integrators reach from outside."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.topics import CONSUMED_TOPICS

#: The brokers' own principal, the only super user: it also provisions topics and ACLs.
ADMIN = "admin"
#: Who reads and decides dead letters, lag and history (the console and the shebao command).
OPERATOR = "operator"
#: The integrator the local cluster makes for trying the external listener (read-only).
DEMO_INTEGRATOR = "integrator-demo"
#: Every SCRAM user of the local cluster: the brokers, each service, the operator, one
#: integrator.
USERS = (ADMIN, *CONSUMED_TOPICS, OPERATOR, DEMO_INTEGRATOR)
MECHANISM = "SCRAM-SHA-512"

_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class ClusterSecurity:
    """The passwords of the cluster's users and where its TLS files are."""

    directory: Path
    passwords: dict[str, str]

    @classmethod
    def load_or_create(cls, directory: Path, hosts: tuple[str, ...] = ()) -> ClusterSecurity:
        """The cluster's credentials, made once (random passwords, a CA and a server
        certificate for localhost, 127.0.0.1 and ``hosts``), kept readable by the owner only."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / "credentials.json"
        if path.exists():
            passwords: dict[str, str] = json.loads(path.read_text())
        else:
            passwords = {user: secrets.token_urlsafe(24) for user in USERS}
            _write_private(path, json.dumps(passwords, indent=2))
        ensure_certificates(directory, hosts)
        return cls(directory, passwords)

    @property
    def ca_file(self) -> Path:
        """The CA that signed the external listener's certificate (clients trust it)."""
        return self.directory / "ca.pem"

    def client_environment(self, user: str) -> dict[str, str]:
        """The variables a process connects as ``user`` with (shared.kafka reads them)."""
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": self.passwords[user],
        }

    def client_options(self, user: str, bootstrap_servers: str) -> dict[str, object]:
        """aiokafka client settings that connect as ``user``."""
        from shared.kafka import KafkaSecurity

        security = KafkaSecurity(
            protocol="SASL_PLAINTEXT", username=user, password=self.passwords[user]
        )
        return {"bootstrap_servers": bootstrap_servers, **security.options()}

    def format_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments that create every SCRAM user with the cluster."""
        args = []
        for user, password in self.passwords.items():
            args += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
        return args

    def server_properties(self, *, external: bool) -> dict[str, str]:
        """A node's listener security: SCRAM on CLIENT (services, between brokers) and on
        EXTERNAL (TLS), PLAIN on CONTROLLER, the standard authorizer denying what no ACL
        allows."""
        admin = self.passwords[ADMIN]
        scram_login = f'{_SCRAM} required username="{ADMIN}" password="{admin}";'
        protocols = "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
        props = {
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                f'{_PLAIN} required username="{ADMIN}" password="{admin}" user_{ADMIN}="{admin}";'
            ),
            "listener.name.client.scram-sha-512.sasl.jaas.config": scram_login,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN}",
            "allow.everyone.if.no.acl.found": "false",
        }
        if external:
            protocols += ",EXTERNAL:SASL_SSL"
            props |= {
                "listener.name.external.scram-sha-512.sasl.jaas.config": scram_login,
                "listener.name.external.ssl.keystore.type": "PEM",
                "listener.name.external.ssl.keystore.location": str(self.directory / "server.pem"),
            }
        props["listener.security.protocol.map"] = protocols
        return props


def ensure_certificates(directory: Path, hosts: tuple[str, ...] = ()) -> None:
    """A CA (ca.pem) and the brokers' key and certificate (server.pem) for localhost,
    127.0.0.1 and ``hosts``, unless there are some already (an operator's own are kept)."""
    if not (directory / "server.pem").exists():
        _make_certificates(directory, ("localhost", "127.0.0.1", *hosts))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _make_certificates(directory: Path, names: tuple[str, ...]) -> None:
    """A CA (ca.pem) and the brokers' key and certificate signed by it (server.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shebao local Kafka CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(
        directory / "server.pem", (key_pem + cert.public_bytes(pem) + ca.public_bytes(pem)).decode()
    )


def main(
    directory: Annotated[Path, typer.Option("--dir", help="Where ca.pem and server.pem go.")],
    host: Annotated[
        list[str] | None, typer.Option(help="A name the brokers are reached by (repeat).")
    ] = None,
    owner: Annotated[
        int | None, typer.Option(help="The user id that must read server.pem (the broker's).")
    ] = None,
) -> None:
    """Make the TLS files of the brokers' external listener once (compose's kafka-tls job),
    and print the CA integrators trust."""
    directory.mkdir(parents=True, exist_ok=True)
    ensure_certificates(directory, tuple(host or ()))
    if owner is not None:
        for name in ("ca.pem", "server.pem"):
            os.chown(directory / name, owner, owner)
    print((directory / "ca.pem").read_text(), end="")


if __name__ == "__main__":
    typer.run(main)
