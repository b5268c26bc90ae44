"""The access log: every read of a person's data by staff or an operator, recorded by the
service that served it on its own topic, and shown to the person in their history (PIPL art.
51; the right to inquire includes who looked)."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload
from shared.topics import Producer

AccessReason = Literal[
    "COUNTER_SERVICE",
    "CARD_PRODUCTION",
    "CITIZEN_REQUEST",
    "COMPLAINT",
    "AUDIT",
    "FRAUD_INVESTIGATION",
    "LEGAL_ORDER",
]


class PersonDataAccessed(EventPayload):
    """Staff or an operator read the person's data in this service."""

    event_type: ClassVar[str] = "PersonDataAccessed"
    producer: ClassVar[Producer] = "identity"
    also_produced_by: ClassVar[tuple[Producer, ...]] = ("card", "activation", "notification")

    accessed_by: str = Field(description="The credential that read (a counter, an operator).")
    channel: str = Field(description="Its role, e.g. window or operator.")
    reason: AccessReason = Field(description="Why: stated by an operator, implied for staff.")
    route: str = Field(description="What was read, e.g. GET /v1/cards/{card_id}.")
    accessed_at: datetime = Field(description="When (UTC).")
