"""Base of every event payload: frozen, documented, and named by type and schema version."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from shared.topics import Producer


class EventPayload(BaseModel):
    """The fields of one event type at one schema version. Never changed once published."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    producer: ClassVar[Producer]
    #: Other services that publish this same event type on their own topic.
    also_produced_by: ClassVar[tuple[Producer, ...]] = ()

    def to_payload(self) -> dict[str, Any]:
        """The payload as JSON-ready data for the envelope."""
        return self.model_dump(mode="json")
