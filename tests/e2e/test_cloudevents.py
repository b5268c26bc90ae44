"""Every record is a CloudEvent (Kafka protocol binding, binary mode), as the official
CloudEvents SDK reads it: its attributes in ``ce_`` headers, the envelope as its data, the
value unchanged."""

from __future__ import annotations

import json
from datetime import datetime

from cloudevents.kafka import KafkaMessage, from_binary
from jsonschema import Draft202012Validator

from deploy.demo.journeys import run_demo
from deploy.stack import Infrastructure, ServiceProcess
from shared.contracts.export import SCHEMAS
from shared.topics import EVENTS_TOPIC
from tests.e2e.harness import Record, endpoints, envelope_of, read_records


async def test_every_record_of_a_journey_reads_as_a_cloudevent(
    services: dict[str, ServiceProcess], infra: Infrastructure
) -> None:
    [journey] = await run_demo(endpoints(services), 1, seed=20261204)
    assert journey.failure is None
    person = journey.person_id.encode()

    def told(records: list[Record]) -> bool:
        return {r.topic for r in records} == set(EVENTS_TOPIC.values())

    records = await read_records(
        infra.bootstrap_servers,
        list(EVENTS_TOPIC.values()),
        keep=lambda r: r.key == person,
        done=told,
    )
    assert told(records), {r.topic for r in records}
    for record in records:
        envelope = envelope_of(record)
        event = from_binary(
            KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
        )
        assert event["specversion"] == "1.0"
        assert event["id"] == str(envelope.event_id)
        assert event["source"] == f"/shebao/{envelope.producer}"
        assert event["type"] == f"cn.shebao.{envelope.event_type}.v{envelope.schema_version}"
        assert event["subject"] == envelope.stream_id
        assert datetime.fromisoformat(event["time"]) == envelope.occurred_at
        assert event["datacontenttype"] == "application/json"
        assert event["dataschema"] == (
            f"urn:shebao:schema:{envelope.event_type}:v{envelope.schema_version}:record"
        )
        # ... the $id of a published schema the whole value satisfies.
        schema = json.loads(
            (SCHEMAS / f"{envelope.event_type}.v{envelope.schema_version}.record.json").read_text()
        )
        assert schema["$id"] == event["dataschema"]
        assert list(Draft202012Validator(schema).iter_errors(event.data)) == []
        # The value is the envelope, as it always was: the event's data.
        assert event.data == json.loads(record.value or b"")
        assert envelope.to_bytes() == record.value
