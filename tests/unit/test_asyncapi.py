"""The AsyncAPI document integrators read: valid under the AsyncAPI tooling, naming the brokers,
the record key and headers and where the correlation id is, with a real record of each event
that its own schemas accept."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from deploy.paths import shebao_home
from shared.contracts import parse_payload
from shared.contracts.examples import load
from shared.contracts.export import SCHEMAS
from shared.envelope import Envelope

DOCUMENT = SCHEMAS / "asyncapi.json"


def document() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return found


def test_the_asyncapi_tooling_finds_no_error() -> None:
    checker = shebao_home() / "asyncapi"
    assert (checker / ".installed").exists(), "make install sets up the AsyncAPI parser"
    result = subprocess.run(
        ["node", "validate.mjs", str(DOCUMENT)],
        cwd=checker,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    diagnostics = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 0, diagnostics or result.stderr
    assert [d for d in diagnostics if d["severity"] <= 1] == []


def test_brokers_key_headers_and_correlation_are_named() -> None:
    spec = document()
    assert {s["host"] for s in spec["servers"].values()} >= {"127.0.0.1:9092", "localhost:9094"}
    messages = [
        m for name, m in spec["components"]["messages"].items() if "SubscribeMessage" not in name
    ]
    assert messages
    for message in messages:
        assert message["correlationId"]["location"] == "$message.payload#/correlation_id"
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert message["headers"] == {"$ref": "#/components/schemas/RecordHeaders"}
    assert "architecture.md" not in json.dumps(spec)


def _validator(spec: dict[str, Any], ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref, "components": spec["components"]})


@pytest.mark.parametrize("name", sorted(load()))
def test_each_example_is_a_real_record_its_schemas_accept(name: str) -> None:
    spec = document()
    example = load()[name]
    message = next(
        m
        for m in spec["components"]["messages"].values()
        if m.get("examples", [{}])[0].get("name") == name
    )
    headers = _validator(spec, "#/components/schemas/RecordHeaders")
    payload = _validator(spec, message["payload"]["$ref"])
    assert list(headers.iter_errors(example["headers"])) == []
    assert list(payload.iter_errors(example["value"])) == []
    envelope = Envelope.model_validate(example["value"])
    parse_payload(envelope)
    assert example["key"] == envelope.person_id
    assert example["headers"]["ce_id"] == str(envelope.event_id)


def test_examples_cover_most_events() -> None:
    examples = load()
    assert len(examples) >= 30, sorted(examples)
