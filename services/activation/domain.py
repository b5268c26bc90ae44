"""The activation service's pure domain: one card's activation, decide and evolve."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from services.activation.errors import (
    CardAlreadyActiveError,
    CardNoLongerValidError,
    CardNotDeliveredError,
    CardNotFoundError,
    CardNotHeldError,
    CardReportedLostError,
    IdentityNotVerifiedError,
)
from shared.contracts import CardActivated, EventPayload
from shared.contracts.activation import ActivationChannel

VerificationLevel = Literal["real_name", "real_person"]
#: Statuses in which the card is in the citizen's hands or on its way to them.
DELIVERED = frozenset({"mailed", "delivered", "collected"})
#: Statuses after which the card can never be activated.
NO_LONGER_VALID = frozenset({"production_failed", "sealed", "cancelled", "replaced"})
#: What each channel needs of the holder: online activation needs the face check.
REQUIRED_LEVEL: dict[ActivationChannel, frozenset[VerificationLevel]] = {
    "online_hall": frozenset({"real_person"}),
    "window": frozenset({"real_name", "real_person"}),
    "bank": frozenset({"real_name", "real_person"}),
    "hospital": frozenset({"real_name", "real_person"}),
    "pharmacy": frozenset({"real_name", "real_person"}),
}


@dataclass(frozen=True)
class CardFacts:
    """What the card service's events told us of a card."""

    person_id: str
    status: str
    lost: str | None = None


@dataclass(frozen=True)
class ActivateCard:
    card_id: str
    person_id: str
    channel: ActivationChannel
    operator: str
    card: CardFacts | None
    holder_level: VerificationLevel | None


@dataclass(frozen=True)
class Activation:
    """One card's activation history."""

    active: bool = False


def decide(state: Activation, command: ActivateCard) -> list[EventPayload]:
    """Activate a delivered card for its verified holder, or say why not."""
    if command.card is None:
        raise CardNotFoundError()
    if command.card.person_id != command.person_id:
        raise CardNotHeldError()
    if state.active:
        raise CardAlreadyActiveError()
    if command.card.status in NO_LONGER_VALID:
        raise CardNoLongerValidError()
    if command.card.lost is not None:
        raise CardReportedLostError()
    if command.card.status not in DELIVERED:
        raise CardNotDeliveredError()
    if command.holder_level not in REQUIRED_LEVEL[command.channel]:
        raise IdentityNotVerifiedError()
    return [
        CardActivated(card_id=command.card_id, channel=command.channel, operator=command.operator)
    ]


def evolve(state: Activation, event: EventPayload) -> Activation:
    """Apply one of the card's activation events."""
    match event:
        case CardActivated():
            return replace(state, active=True)
        case _:
            return state
