"""The envelope and event contracts: exactly the published fields, documented, committed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.contracts import (
    ALL_EVENTS,
    ON_BEHALF,
    REGISTRY,
    UnknownEventError,
    acted_for,
    parse_payload,
)
from shared.contracts.activation import CardActivated
from shared.contracts.card import CardMailed
from shared.contracts.export import SCHEMAS, rendered
from shared.envelope import Envelope, new_event_id

FIELDS = [
    "event_id",
    "event_type",
    "schema_version",
    "stream_id",
    "stream_version",
    "person_id",
    "occurred_at",
    "correlation_id",
    "causation_id",
    "producer",
    "payload",
]


def mailed() -> Envelope:
    return Envelope(
        event_id=new_event_id(),
        event_type="CardMailed",
        schema_version=1,
        stream_id="cards-p1-41",
        stream_version=3,
        person_id="p1",
        occurred_at=datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC),
        correlation_id="req-1",
        causation_id="req-1",
        producer="card",
        payload=CardMailed(card_id="c1", courier="EMS", tracking_number="EMS1").to_payload(),
    )


def test_the_envelope_has_exactly_the_published_fields() -> None:
    raw = json.loads(mailed().to_bytes())
    assert list(raw) == FIELDS
    assert raw["occurred_at"] == "2026-11-22T01:02:03.456789Z"


def test_event_ids_are_uuid_v7() -> None:
    assert new_event_id().version == 7
    assert uuid.UUID(json.loads(mailed().to_bytes())["event_id"]).version == 7


def test_headers_name_type_and_version() -> None:
    assert dict(mailed().kafka_headers()) == {"event_type": b"CardMailed", "schema_version": b"1"}


def test_an_envelope_round_trips_and_refuses_extra_fields() -> None:
    envelope = mailed()
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope
    tampered = json.loads(envelope.to_bytes()) | {"name": "someone"}
    with pytest.raises(ValidationError):
        Envelope.from_bytes(json.dumps(tampered).encode())


def test_payloads_are_checked_against_their_contract() -> None:
    envelope = mailed()
    assert parse_payload(envelope) == CardMailed(
        card_id="c1", courier="EMS", tracking_number="EMS1"
    )
    with pytest.raises(ValidationError):
        parse_payload(envelope.model_copy(update={"payload": {"card_id": "c1"}}))
    with pytest.raises(UnknownEventError):
        parse_payload(envelope.model_copy(update={"schema_version": 9}))


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.event_type)
def test_every_field_is_described_and_the_model_frozen(event: type) -> None:
    assert event.model_config.get("frozen") is True
    for name, field in event.model_fields.items():
        assert field.description, f"{event.__name__}.{name} needs a description"


def test_committed_json_schemas_match_the_code() -> None:
    expected = rendered()
    committed = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert committed == expected, "run `python -m shared.contracts.export` and commit"


def test_what_a_family_holder_does_for_a_member_names_them_in_version_2() -> None:
    for v1, v2 in ON_BEHALF.items():
        assert issubclass(v2, v1), "readers matching version 1 read version 2 too"
        assert (v2.event_type, v2.schema_version) == (v1.event_type, 2)
        assert REGISTRY[(v1.event_type, 2)] is v2
        assert "acting_person_id" in v2.model_json_schema()["required"]
    own = CardActivated(card_id="c1", channel="online_hall", operator="app")
    helped = acted_for(own, "holder-1")
    assert (helped.schema_version, helped.to_payload()["acting_person_id"]) == (2, "holder-1")
    assert own.schema_version == 1
    envelope = Envelope(
        event_id=uuid.uuid4(),
        event_type="CardActivated",
        schema_version=2,
        stream_id="s",
        stream_version=1,
        person_id="member-1",
        occurred_at=datetime.now(UTC),
        correlation_id="c",
        causation_id="c",
        producer="activation",
        payload=helped.to_payload(),
    )
    assert isinstance(parse_payload(envelope), CardActivated)
