"""A person's cards in one province (and their e-card) as their events describe them: the
state the card decider (domain.py) decides on, and how each event changes it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from services.card.errors import CardNotFoundError
from shared.contracts import EventPayload
from shared.contracts.card import (
    CardApplied,
    CardCancelled,
    CardCollected,
    CardDelivered,
    CardInProduction,
    CardMailed,
    CardPasswordLockNoted,
    CardProduced,
    CardProductionFailed,
    CardReadyForPickup,
    CardReplaced,
    CardReportedLost,
    CardSealed,
    CardUnblocked,
    ChannelBound,
    ChannelUnlinked,
    DeliveryMethod,
    ECardClaimed,
    ECardMoved,
    ECardResumed,
    ECardSuspended,
    LossKind,
)

CardStatus = Literal[
    "applied",
    "in_production",
    "production_failed",
    "produced",
    "ready_for_pickup",
    "mailed",
    "delivered",
    "collected",
    "sealed",
    "cancelled",
    "replaced",
]
#: No transition leaves these.
FINAL: frozenset[CardStatus] = frozenset({"production_failed", "sealed", "cancelled", "replaced"})
#: The card exists (it has a number) and is on its way to, or with, the holder.
ISSUED: frozenset[CardStatus] = frozenset(
    {"produced", "ready_for_pickup", "mailed", "delivered", "collected"}
)
#: The holder has the card in hand.
IN_HAND: frozenset[CardStatus] = frozenset({"delivered", "collected"})


@dataclass(frozen=True)
class Card:
    """One card as its events describe it."""

    card_id: str
    region: str
    delivery: DeliveryMethod
    status: CardStatus = "applied"
    lost: LossKind | None = None
    lost_until: datetime | None = None
    password_locked: bool = False

    @property
    def valid(self) -> bool:
        """Whether it still counts as the person's card in this province."""
        return self.status not in FINAL and self.lost != "formal"

    @property
    def usable(self) -> bool:
        """Whether it can be used now: valid, issued, not reported lost, password not locked."""
        return (
            self.valid and self.status in ISSUED and self.lost is None and not self.password_locked
        )


@dataclass(frozen=True)
class ECard:
    """The electronic card: bound to one physical card; suspended while that card is not
    usable; moved to the replacement when that is in hand."""

    card_id: str
    region: str
    suspended: bool = False
    #: The replacement card it moves to once the holder has it.
    awaiting: str | None = None


@dataclass(frozen=True)
class Holder:
    """Every card of one person in one province, and their e-card."""

    cards: dict[str, Card] = field(default_factory=dict)
    ecard: ECard | None = None
    channels: frozenset[str] = frozenset()

    def valid_cards(self) -> list[Card]:
        """Cards that still count as the person's card in this province."""
        return [c for c in self.cards.values() if c.valid]

    def card(self, card_id: str) -> Card:
        """One card of the holder, or CardNotFoundError."""
        if card_id not in self.cards:
            raise CardNotFoundError()
        return self.cards[card_id]


def evolve(state: Holder, event: EventPayload) -> Holder:
    """Apply one of the holder's own events."""
    match event:
        case CardApplied():
            card = Card(card_id=event.card_id, region=event.region, delivery=event.delivery)
            return replace(state, cards={**state.cards, card.card_id: card})
        case CardInProduction():
            return _card(state, event.card_id, status="in_production")
        case CardProduced():
            return _card(state, event.card_id, status="produced")
        case CardProductionFailed():
            return _card(state, event.card_id, status="production_failed")
        case CardReadyForPickup():
            return _card(state, event.card_id, status="ready_for_pickup")
        case CardMailed():
            return _card(state, event.card_id, status="mailed")
        case CardDelivered():
            return _card(state, event.card_id, status="delivered")
        case CardCollected():
            return _card(state, event.card_id, status="collected")
        case CardSealed():
            return _card(state, event.card_id, status="sealed")
        case CardCancelled():
            return _card(state, event.card_id, status="cancelled")
        case CardReplaced():
            state = _card(state, event.card_id, status="replaced")
            if state.ecard is not None and state.ecard.card_id == event.card_id:
                state = replace(state, ecard=replace(state.ecard, awaiting=event.new_card_id))
            return state
        case CardReportedLost():
            return _card(state, event.card_id, lost=event.kind, lost_until=event.expires_at)
        case CardUnblocked():
            return _card(state, event.card_id, lost=None, lost_until=None)
        case CardPasswordLockNoted():
            return _card(state, event.card_id, password_locked=event.locked)
        case _:
            return _evolve_ecard(state, event)


def _evolve_ecard(state: Holder, event: EventPayload) -> Holder:
    match event:
        case ECardClaimed():
            return replace(state, ecard=ECard(card_id=event.card_id, region=event.region))
        case ECardMoved():
            return replace(state, ecard=None, channels=frozenset())
        case ECardSuspended() if state.ecard is not None:
            return replace(state, ecard=replace(state.ecard, suspended=True))
        case ECardResumed() if state.ecard is not None:
            ecard = replace(state.ecard, card_id=event.card_id, suspended=False, awaiting=None)
            return replace(state, ecard=ecard)
        case ChannelBound():
            return replace(state, channels=state.channels | {event.channel})
        case ChannelUnlinked():
            return replace(state, channels=state.channels - {event.channel})
        case _:
            return state


def _card(state: Holder, card_id: str, **changes: object) -> Holder:
    card = replace(state.cards[card_id], **changes)  # type: ignore[arg-type]
    return replace(state, cards={**state.cards, card_id: card})
