"""The ``shebao`` command with no stack to talk to: one line and a documented exit code for
each fault, choices checked by the parser, JSON where it prints data; never a traceback."""

from __future__ import annotations

import json
import os

import pytest

from deploy import exits
from deploy.paths import free_port
from tests.cli import shebao


@pytest.fixture(scope="module")
def nowhere(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose stack is nowhere: no state file, every port closed."""
    ports = ("KAFKA_PORT", "SHEBAO_PG_PORT", "SINK_PORT")
    services = ("IDENTITY_PORT", "CARD_PORT", "ACTIVATION_PORT", "NOTIFICATION_PORT")
    return {
        **os.environ,
        "SHEBAO_HOME": str(tmp_path_factory.mktemp("home")),
        **{name: str(free_port()) for name in (*ports, *services)},
        "COLUMNS": "80",
    }


def test_version(nowhere: dict[str, str]) -> None:
    shown = shebao(nowhere, "--version")
    assert shown.returncode == exits.OK
    assert shown.stdout.startswith("shebao ")


def test_status_as_json_says_every_part_is_down(nowhere: dict[str, str]) -> None:
    shown = shebao(nowhere, "status", "--json")
    assert shown.returncode == exits.NO, shown.stderr
    health = json.loads(shown.stdout)
    assert health["healthy"] is False
    assert [p["component"] for p in health["parts"]] == [
        "Kafka",
        "PostgreSQL",
        "identity",
        "card",
        "activation",
        "notification",
    ]
    assert not any(p["ok"] for p in health["parts"])


@pytest.mark.parametrize(
    "args",
    [
        ("dead-letters", "list"),
        ("notifications", "retry"),
        ("rebuild", "card", "--dry-run"),
        ("timeline", "01a24000-0000-7000-8000-000000000000"),
        ("issue-facts",),
        ("dead-letters", "skip", "card", "0:1", "--reason", "gone"),
        ("dead-letters", "redrive", "card", "0:1", "--reason", "fixed", "--json"),
        ("notifications", "sent", "--json"),
        ("demo", "--citizens", "1", "--json"),
    ],
)
def test_a_stack_that_does_not_answer_is_one_line_and_exit_code_4(
    nowhere: dict[str, str], args: tuple[str, ...]
) -> None:
    ran = shebao(nowhere, *args)
    said = (ran.stdout + ran.stderr).strip()
    assert ran.returncode == exits.UNREACHABLE, said
    assert "Traceback" not in said
    assert "Unclosed" not in said
    assert len(said.splitlines()) <= 2, said
    assert ran.stdout.strip() == "", "a fault is said on stderr, not among the data"


@pytest.mark.parametrize(
    "args",
    [
        ("rebuild", "payroll"),
        ("dead-letters", "list", "payroll"),
        ("notifications", "sent", "--kind", "fax"),
        ("import", "persons", "/no/such/file.csv"),
        ("status", "--no-such-option"),
        ("rebuild", "card", "--dry-run", "--schema", "bad!"),
        ("timeline", "not-a-person-id", "--json"),
        ("integrators", "add", "Bank_1"),
        ("integrators", "remove", "-bank"),
        ("integrators", "add", "x" * 33),
    ],
)
def test_a_wrong_command_line_is_refused_by_the_parser(
    nowhere: dict[str, str], args: tuple[str, ...]
) -> None:
    ran = shebao(nowhere, *args)
    assert ran.returncode == exits.USAGE, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr


def test_tables_fit_80_columns(nowhere: dict[str, str]) -> None:
    shown = shebao(nowhere, "status")
    assert shown.returncode == exits.NO
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80


def test_integrator_users_need_a_secured_cluster(nowhere: dict[str, str]) -> None:
    # The laptop's single node is plaintext: it has no users to make.
    ran = shebao(nowhere, "integrators", "add", "bank")
    said = (ran.stdout + ran.stderr).strip()
    assert ran.returncode == exits.NO, said
    assert "secured cluster" in said
    assert len(said.splitlines()) == 1, said


def test_integrator_users_on_a_cluster_that_does_not_answer(nowhere: dict[str, str]) -> None:
    # As compose's admin (its credentials in the environment), with Kafka away.
    admin = {
        **nowhere,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": "admin",
        "KAFKA_SASL_PASSWORD": "shebao-dev-kafka-admin",
    }
    ran = shebao(admin, "integrators", "list", "--json")
    said = (ran.stdout + ran.stderr).strip()
    assert ran.returncode == exits.UNREACHABLE, said
    assert "Traceback" not in said
    assert "Unclosed" not in said
    assert ran.stdout.strip() == ""
