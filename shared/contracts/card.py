"""Events published by the card service on ``card.events``."""

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload
from shared.topics import Producer

ApplicationKind = Literal["online", "window"]
DeliveryMethod = Literal["mail", "pickup"]


class CardApplied(EventPayload):
    """A person applied for a physical card."""

    event_type: ClassVar[str] = "CardApplied"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card application; names the card for its life.")
    region: str = Field(description="Insured region (6-digit code) the card is issued for.")
    channel: str = Field(description="Channel the application came through.")
    kind: ApplicationKind = Field(description="online or at a service window.")
    delivery: DeliveryMethod = Field(description="mail to the citizen or pick-up at a branch.")
    fee_fen: int = Field(description="Fee charged, in fen (0 for a first card).", ge=0)


class CardProduced(EventPayload):
    """The printing agency produced the card."""

    event_type: ClassVar[str] = "CardProduced"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card application.")
    card_number: str = Field(description="Number printed on the card (not the ID number).")
    chip_serial: str = Field(description="Serial number of the card's chip.")
    agency: str = Field(description="Credential name of the printing agency that reported it.")


class CardMailed(EventPayload):
    """The produced card was handed to a courier for the citizen."""

    event_type: ClassVar[str] = "CardMailed"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card application.")
    courier: str = Field(description="Courier company, e.g. EMS or SF Express.")
    tracking_number: str = Field(description="The courier's tracking number.")
