"""Events published by the identity service on ``identity.events``."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload
from shared.topics import Producer

VerificationLevel = Literal["real_name", "real_person"]


class IdentityVerified(EventPayload):
    """A person passed real-name (and, at level real_person, face) verification on a channel."""

    event_type: ClassVar[str] = "IdentityVerified"
    producer: ClassVar[Producer] = "identity"

    level: VerificationLevel = Field(
        description="Level reached: real_name (name + ID number) or real_person (also face)."
    )
    channel: str = Field(description="Channel the verification came through, e.g. online_hall.")
    masked_id_number: str = Field(
        description="ID number with all but the first 4 and last 4 characters masked."
    )
    id_number_hash: str = Field(description="Keyed hash (HMAC-SHA256, hex) of the ID number.")
    face_provider: str | None = Field(
        description="Certified provider whose signed face-check result was accepted, if any."
    )
    verified_at: datetime = Field(description="When the verification was accepted (UTC).")
