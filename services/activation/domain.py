"""The activation service's pure domain: one card's activation, decide and evolve.

Each channel has its own rule (domain.md, "Activation"); a refusal of the holder's attempt is
recorded; activating an active card is answered, not repeated. On activation the medical
insurance account is enabled, and a replacement card inherits the account of the card it
replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.activation.errors import (
    REFUSAL_ERRORS,
    CardNoLongerValidError,
    CardNotDeliveredError,
    CardNotFoundError,
    CardNotHeldError,
    CardReportedLostError,
    ECardNotClaimedError,
    IdCheckRequiredError,
    IdentityNotVerifiedError,
    VerificationTooOldError,
)
from shared.contracts import EventPayload
from shared.contracts.activation import (
    ACTIVATION_CHANNELS,
    ActivationChannel,
    ActivationRefusal,
    ActivationRefused,
    CardActivated,
    FinancialFunctionActivated,
    MedicalAccountEnabled,
    MedicalAccountMoved,
    PasswordSet,
)
from shared.contracts.identity import VerificationLevel
from shared.decider import Decider

#: The card is in the holder's hands: delivered by the courier or collected at a branch (a
#: card still in the mail is not activated, whoever asks).
DELIVERED = frozenset({"delivered", "collected"})
#: Statuses after which the card can never be activated.
NO_LONGER_VALID = frozenset({"production_failed", "sealed", "cancelled", "replaced"})
#: Channels where staff check the original ID card before activating.


@dataclass(frozen=True)
class CardFacts:
    """What the card service's events told us of a card."""

    person_id: str
    status: str
    lost: str | None = None
    replaces: str | None = None


@dataclass(frozen=True)
class Holder:
    """What identity's events told us of the holder."""

    level: VerificationLevel | None
    real_person_at: datetime | None


@dataclass(frozen=True)
class ActivateCard:
    card_id: str
    person_id: str
    channel: ActivationChannel
    operator: str
    card: CardFacts | None
    holder: Holder
    at: datetime
    max_verification_age: timedelta
    id_checked: bool = False
    #: Pharmacy: the old card inserted before the new one.
    presented_old_card: str | None = None


@dataclass(frozen=True)
class Activation:
    """One card's activation history."""

    active: bool = False
    effective_at: datetime | None = None
    #: The (channel, reason) of the last event, when it was a refusal.
    refused: tuple[str, str] | None = None

    def usable_at(self, moment: datetime) -> bool:
        """Active, and past any processing delay."""
        return self.active and (self.effective_at is None or moment >= self.effective_at)


def decide(state: Activation, command: ActivateCard) -> list[EventPayload]:
    """Activate the card by the channel's rule; a refusal is an ActivationRefused event."""
    card = command.card
    if card is None:
        raise CardNotFoundError()
    if card.person_id != command.person_id:
        raise CardNotHeldError()
    if state.active and usable(card) is None:
        return []  # already active: answered, not repeated
    reason = refusal(command, card)
    if reason == "CARD_NOT_DELIVERED" or (
        reason is not None and state.refused == (command.channel, reason)
    ):
        # Not in the holder's hands (as far as the platform knows yet), or refused just so
        # already: answered, not recorded again, so retries do not grow the history.
        raise REFUSAL_ERRORS[reason]()
    if reason is not None:
        return [ActivationRefused(card_id=command.card_id, channel=command.channel, reason=reason)]
    events: list[EventPayload] = [
        CardActivated(card_id=command.card_id, channel=command.channel, operator=command.operator),
        MedicalAccountEnabled(card_id=command.card_id),
    ]
    if card.replaces is not None:
        events.append(MedicalAccountMoved(from_card_id=card.replaces, to_card_id=command.card_id))
    return events


def usable(card: CardFacts) -> ActivationRefusal | None:
    """Why the card cannot be used at all (no longer valid, or reported lost), or None; an
    active card that became so is refused, not answered as active."""
    if card.status in NO_LONGER_VALID:
        return "CARD_NO_LONGER_VALID"
    if card.lost is not None:
        return "CARD_REPORTED_LOST"
    return None


def refusal(command: ActivateCard, card: CardFacts) -> ActivationRefusal | None:
    """Why the channel may not activate this card now, or None."""
    if (unusable := usable(card)) is not None:
        return unusable
    if card.status not in DELIVERED:
        return "CARD_NOT_DELIVERED"
    channel = ACTIVATION_CHANNELS[command.channel]
    if channel.id_check and not command.id_checked:
        return "ID_CHECK_REQUIRED"
    if channel.face_check:
        holder = command.holder
        if holder.level != "real_person" or holder.real_person_at is None:
            return "IDENTITY_NOT_VERIFIED"
        if command.at - holder.real_person_at > command.max_verification_age:
            return "VERIFICATION_TOO_OLD"
    if channel.old_card and card.replaces != command.presented_old_card:
        return "OLD_CARD_MISMATCH"
    return None


@dataclass(frozen=True)
class ActivateECard:
    """The holder sets the e-card password after a recent face verification: it is active."""

    person_id: str
    card_id: str | None
    holder: Holder
    at: datetime
    max_verification_age: timedelta
    operator: str
    #: The region processes a new e-card for this long before it works.
    processing_delay: timedelta = timedelta(0)


def decide_ecard(state: Activation, command: ActivateECard) -> list[EventPayload]:
    """Activate the e-card once, with its own password (never the physical card's)."""
    if command.card_id is None:
        raise ECardNotClaimedError()
    if state.active:
        return []
    holder = command.holder
    if holder.level != "real_person" or holder.real_person_at is None:
        raise IdentityNotVerifiedError()
    if command.at - holder.real_person_at > command.max_verification_age:
        raise VerificationTooOldError()
    delay = command.processing_delay
    return [
        PasswordSet(card_id=command.card_id, card_kind="electronic", channel="online_hall"),
        CardActivated(
            card_id=command.card_id,
            channel="online_hall",
            operator=command.operator,
            card_kind="electronic",
            effective_at=command.at + delay if delay else None,
        ),
    ]


@dataclass(frozen=True)
class ActivateFinancialFunction:
    """At the bank on the card face, with the card and the original ID card."""

    card_id: str
    person_id: str
    bank: str
    card: CardFacts | None
    id_checked: bool


@dataclass(frozen=True)
class FinancialFunction:
    """Whether the card's bank function is on."""

    active: bool = False


def decide_financial(
    state: FinancialFunction, command: ActivateFinancialFunction
) -> list[EventPayload]:
    """Turn the bank function on once, for the holder, with the card in hand and ID checked."""
    card = command.card
    if card is None:
        raise CardNotFoundError()
    if card.person_id != command.person_id:
        raise CardNotHeldError()
    if state.active:
        return []
    if card.status in NO_LONGER_VALID:
        raise CardNoLongerValidError()
    if card.lost is not None:
        raise CardReportedLostError()
    if card.status not in DELIVERED:
        raise CardNotDeliveredError()
    if not command.id_checked:
        raise IdCheckRequiredError()
    return [FinancialFunctionActivated(card_id=command.card_id, bank=command.bank)]


def evolve_financial(state: FinancialFunction, event: EventPayload) -> FinancialFunction:
    """Apply one of the bank function's events."""
    return (
        FinancialFunction(active=True) if isinstance(event, FinancialFunctionActivated) else state
    )


def evolve(state: Activation, event: EventPayload) -> Activation:
    """Apply one of the card's activation events."""
    match event:
        case CardActivated():
            return replace(state, active=True, effective_at=event.effective_at, refused=None)
        case ActivationRefused():
            return replace(state, refused=(event.channel, event.reason))
        case _:
            return replace(state, refused=None)


#: A card's activation; streams ``activation-<card id>``.
ACTIVATION: Decider[Activation, ActivateCard] = Decider("activation", Activation(), evolve, decide)
#: A person's e-card activation; streams ``ecard-activation-<person id>``.
ECARD_ACTIVATION: Decider[Activation, ActivateECard] = Decider(
    "ecard-activation", Activation(), evolve, decide_ecard
)
#: A card's bank function; streams ``financial-<card id>``.
FINANCIAL: Decider[FinancialFunction, ActivateFinancialFunction] = Decider(
    "financial", FinancialFunction(), evolve_financial, decide_financial
)
