"""Events published by the activation service on ``activation.events``."""

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload
from shared.topics import Producer

ActivationChannel = Literal["window", "online_hall", "bank", "hospital", "pharmacy"]


class CardActivated(EventPayload):
    """A physical card's social security function was activated (启用)."""

    event_type: ClassVar[str] = "CardActivated"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="Id of the card that was activated.")
    channel: ActivationChannel = Field(description="How the card was activated.")
    operator: str = Field(description="Credential name of the caller that activated it.")
