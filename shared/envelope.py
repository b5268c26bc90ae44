"""The event envelope: the public contract every event travels in (see architecture.md)."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any

import uuid_utils.compat
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from shared.topics import Producer

EVENT_TYPE_HEADER = "event_type"
SCHEMA_VERSION_HEADER = "schema_version"


def record_headers(event_type: str, schema_version: int) -> list[tuple[str, bytes]]:
    """Headers that let a consumer skip unknown events without parsing the value."""
    return [
        (EVENT_TYPE_HEADER, event_type.encode()),
        (SCHEMA_VERSION_HEADER, str(schema_version).encode()),
    ]


#: CloudEvents 1.0, Kafka protocol binding, binary mode: the attributes travel as ``ce_``
#: headers and the record value (the envelope) is the event's data, unchanged.
CLOUDEVENTS_SPEC = "1.0"
CONTENT_TYPE = "application/json"


@functools.cache
def event_type_uri(event_type: str, schema_version: int) -> str:
    """The CloudEvents ``type`` of an event: its name and its payload's version."""
    return f"cn.shebao.{event_type}.v{schema_version}"


@functools.cache
def record_schema_uri(event_type: str, schema_version: int) -> str:
    """The ``$id`` of the schema of a whole record value (the envelope with this event's
    payload): the CloudEvents ``dataschema``, since the envelope is the event's data."""
    return f"{schema_uri(event_type, schema_version)}:record"


def schema_uri(event_type: str, schema_version: int) -> str:
    """The ``$id`` of an event's published JSON Schema (CloudEvents ``dataschema``)."""
    return f"urn:shebao:schema:{event_type}:v{schema_version}"


def new_event_id() -> uuid.UUID:
    """A fresh UUIDv7: time-ordered, so event ids sort roughly by creation (uuid-utils, in
    Rust: a fifth of the pure-Python uuid6's cost, paid for every event and person)."""
    return uuid_utils.compat.uuid7()


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Envelope(BaseModel):
    """One event as published: exactly these top-level fields, serialised as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(description="Unique id of this event (UUIDv7).")
    event_type: str = Field(description="Name of the event, e.g. CardMailed.", min_length=1)
    schema_version: int = Field(description="Version of the payload's schema.", ge=1)
    stream_id: str = Field(description="The stream (aggregate) the event belongs to.", min_length=1)
    stream_version: int = Field(description="Position of the event in its stream, from 1.", ge=1)
    person_id: str = Field(description="Opaque id of the person; also the Kafka key.", min_length=1)
    occurred_at: datetime = Field(description="When the event happened (RFC 3339, UTC).")
    correlation_id: str = Field(description="Id shared by everything one request caused.")
    causation_id: str = Field(description="Id of the event or request that caused this one.")
    producer: Producer = Field(description="The service that produced the event.")
    payload: dict[str, Any] = Field(description="The event's own fields.")

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is UTC:
            return value
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("occurred_at must carry a time zone")
        # Parsed "...Z" carries pydantic's own UTC: the same instant, relabelled cheaply.
        return value.astimezone(UTC) if offset else value.replace(tzinfo=UTC)

    @field_serializer("occurred_at")
    def _rfc3339(self, value: datetime) -> str:
        # Validated values are in UTC already (the validator converts them).
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        return utc.isoformat(timespec="microseconds").replace("+00:00", "Z")

    @functools.cached_property
    def event_id_text(self) -> str:
        """``event_id`` as text, made once (a consumer names each event several times)."""
        return str(self.event_id)

    def to_bytes(self) -> bytes:
        """The JSON bytes published as the Kafka record value."""
        return self.model_dump_json().encode()

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """Headers that let a consumer skip unknown events without parsing the value."""
        return record_headers(self.event_type, self.schema_version)

    def cloudevent_headers(self) -> dict[str, str]:
        """The event's CloudEvents attributes as Kafka headers (binary mode)."""
        return {
            "ce_specversion": CLOUDEVENTS_SPEC,
            "ce_id": self.event_id_text,
            "ce_source": f"/shebao/{self.producer}",
            "ce_type": event_type_uri(self.event_type, self.schema_version),
            "ce_subject": self.stream_id,
            "ce_time": self._rfc3339(self.occurred_at),
            "ce_dataschema": record_schema_uri(self.event_type, self.schema_version),
            "content-type": CONTENT_TYPE,
        }

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        """Parse a record value; raises pydantic.ValidationError when it breaks the contract."""
        return cls.model_validate_json(raw)
