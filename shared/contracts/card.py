"""Events published by the card service on ``card.events``."""

from datetime import datetime
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
    photo_ref: str | None = Field(
        None, description="Reference of the bareheaded photo in the photo store; None under 7."
    )
    id_checked: bool = Field(
        False, description="A window clerk checked the original ID card (window applications)."
    )


class CardInProduction(EventPayload):
    """The printing agency took the application into a production batch (制卡中)."""

    event_type: ClassVar[str] = "CardInProduction"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card application.")
    batch_id: str = Field(description="The production batch.")
    agency: str = Field(description="Credential name of the printing agency.")


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


LossKind = Literal["temporary", "formal"]
ReplacementReason = Literal[
    "loss", "expiry", "damage", "name_change", "id_number_change", "bank_change", "move"
]


class CardProductionFailed(EventPayload):
    """The printing agency could not produce the card (制卡失败); the citizen may re-apply."""

    event_type: ClassVar[str] = "CardProductionFailed"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card application.")
    reason: str = Field(description="The agency's reason, e.g. PHOTO_UNUSABLE.")
    agency: str = Field(description="Credential name of the printing agency.")


class CardReadyForPickup(EventPayload):
    """The produced card waits at a branch to be collected at the window."""

    event_type: ClassVar[str] = "CardReadyForPickup"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card.")
    branch: str = Field(description="The branch (service window) holding the card.")


class CardDelivered(EventPayload):
    """The courier delivered the mailed card."""

    event_type: ClassVar[str] = "CardDelivered"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card.")
    courier: str = Field(description="Credential name of the courier that reported it.")


class CardCollected(EventPayload):
    """The holder collected the card at a service window (领卡)."""

    event_type: ClassVar[str] = "CardCollected"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card.")
    clerk: str = Field(description="Credential name of the window clerk.")


class CardSealed(EventPayload):
    """Not collected and activated within the time allowed (逾期封存); re-apply to get one."""

    event_type: ClassVar[str] = "CardSealed"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card.")
    produced_at: datetime = Field(description="When the card was produced (UTC).")
    sealed_at: datetime = Field(description="When it was sealed (UTC).")


class CardReportedLost(EventPayload):
    """The card was reported lost: temporarily (临时挂失, lapses) or formally (正式挂失, final)."""

    event_type: ClassVar[str] = "CardReportedLost"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card.")
    kind: LossKind = Field(description="temporary or formal.")
    channel: str = Field(description="Channel the report came through.")
    expires_at: datetime | None = Field(
        description="When a temporary report lapses by itself (UTC); None for formal."
    )


class CardUnblocked(EventPayload):
    """A temporary loss report ended (解挂): by the holder, or because it lapsed."""

    event_type: ClassVar[str] = "CardUnblocked"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card.")
    reason: Literal["holder", "expired"] = Field(description="Who or what ended the report.")


class CardReplaced(EventPayload):
    """The card was replaced (补卡/换卡): it is no longer valid; the new card inherits its
    medical insurance account."""

    event_type: ClassVar[str] = "CardReplaced"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card replaced.")
    new_card_id: str = Field(description="Id of the card that replaces it.")
    reason: ReplacementReason = Field(description="Why it was replaced.")
    fee_fen: int = Field(description="Fee charged, in fen.", ge=0)


class CardCancelled(EventPayload):
    """The card was cancelled (注销)."""

    event_type: ClassVar[str] = "CardCancelled"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="Id of the card.")
    reason: str = Field(description="Why, e.g. HOLDER_REQUEST or DECEASED.")


class CardPasswordLockNoted(EventPayload):
    """The card service noted that the card's password was locked or unlocked (learned from
    activation.events): a card whose password is locked cannot be used, nor its e-card."""

    event_type: ClassVar[str] = "CardPasswordLockNoted"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="The card.")
    locked: bool = Field(description="True when locked, False when unlocked or reset.")


class ECardClaimed(EventPayload):
    """The holder claimed the electronic card, bound one-to-one to a valid physical card."""

    event_type: ClassVar[str] = "ECardClaimed"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="The physical card the e-card is bound to.")
    region: str = Field(description="Insured region chosen at the claim (6-digit code).")
    channel: str = Field(description="Channel the claim came through.")
    on_behalf: bool = Field(description="Whether a linked family member claimed for the holder.")


class ECardMoved(EventPayload):
    """The e-card left the card it was bound to, no longer valid (cancelled or sealed, say
    after a move to another province), for the holder's valid card in ``to_region``: the
    ``ECardClaimed`` that follows binds it there. The e-card, its password and its history
    stay the holder's one national e-card."""

    event_type: ClassVar[str] = "ECardMoved"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="The card it was bound to, no longer valid.")
    to_region: str = Field(description="The insured region it moves to (6-digit code).")


class ECardSuspended(EventPayload):
    """The e-card's personal services stopped because its physical card cannot be used."""

    event_type: ClassVar[str] = "ECardSuspended"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="The physical card it is bound to.")
    reason: Literal["lost", "locked", "cancelled", "replaced", "sealed"] = Field(
        description="Why: the card is lost, its password locked, or it is no longer valid."
    )


class ECardResumed(EventPayload):
    """The e-card works again, bound to this physical card (no new claim needed)."""

    event_type: ClassVar[str] = "ECardResumed"
    producer: ClassVar[Producer] = "card"

    card_id: str = Field(description="The physical card it is now bound to.")


class ChannelBound(EventPayload):
    """The holder's e-card was bound to a channel (app, mini program, bank app...)."""

    event_type: ClassVar[str] = "ChannelBound"
    producer: ClassVar[Producer] = "card"

    channel: str = Field(description="The channel, e.g. wechat, alipay, hrss_app, bank_app.")


class ChannelUnlinked(EventPayload):
    """The holder unlinked one channel (解除关联); the others stay."""

    event_type: ClassVar[str] = "ChannelUnlinked"
    producer: ClassVar[Producer] = "card"

    channel: str = Field(description="The channel unlinked.")


#: The status a card has after each of these events (what citizens are shown), for every
#: service that follows cards through card.events.
STATUS_AFTER: dict[str, str] = {
    CardApplied.event_type: "applied",
    CardInProduction.event_type: "in_production",
    CardProduced.event_type: "produced",
    CardProductionFailed.event_type: "production_failed",
    CardReadyForPickup.event_type: "ready_for_pickup",
    CardMailed.event_type: "mailed",
    CardDelivered.event_type: "delivered",
    CardCollected.event_type: "collected",
    CardSealed.event_type: "sealed",
    CardCancelled.event_type: "cancelled",
    CardReplaced.event_type: "replaced",
}
