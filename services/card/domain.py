"""The card service's pure domain: a person's cards in one province, decide and evolve.

The stream holds every card of one person in one province, so the rule "one valid card per
person per province" is checked against one consistent history.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from services.card.errors import (
    CardAlreadyHeldError,
    CardNotFoundError,
    CardStatusError,
    IdentityNotVerifiedError,
)
from shared.contracts import CardApplied, CardMailed, CardProduced, EventPayload
from shared.contracts.card import ApplicationKind, DeliveryMethod

CardStatus = Literal["applied", "produced", "mailed"]
VerificationLevel = Literal["real_name", "real_person"]
FIRST_CARD_FEE_FEN = 0


@dataclass(frozen=True)
class Card:
    """One card as its events describe it."""

    card_id: str
    region: str
    delivery: DeliveryMethod
    status: CardStatus = "applied"


@dataclass(frozen=True)
class Holder:
    """Every card of one person in one province."""

    cards: dict[str, Card] = field(default_factory=dict)

    def valid_cards(self) -> list[Card]:
        """Cards that still count as the person's card in this province."""
        return list(self.cards.values())

    def card(self, card_id: str) -> Card:
        """One card of the holder, or CardNotFoundError."""
        if card_id not in self.cards:
            raise CardNotFoundError()
        return self.cards[card_id]


@dataclass(frozen=True)
class ApplyForCard:
    card_id: str
    region: str
    channel: str
    kind: ApplicationKind
    delivery: DeliveryMethod
    holder_level: VerificationLevel | None


@dataclass(frozen=True)
class ReportProduced:
    card_id: str
    card_number: str
    chip_serial: str
    agency: str


@dataclass(frozen=True)
class ReportMailed:
    card_id: str
    courier: str
    tracking_number: str


Command = ApplyForCard | ReportProduced | ReportMailed


def decide(state: Holder, command: Command) -> list[EventPayload]:
    """The events a command causes, or a CardError saying why it is refused."""
    match command:
        case ApplyForCard():
            return _apply(state, command)
        case ReportProduced():
            _require(state.card(command.card_id), "applied", "reported produced")
            return [
                CardProduced(
                    card_id=command.card_id,
                    card_number=command.card_number,
                    chip_serial=command.chip_serial,
                    agency=command.agency,
                )
            ]
        case ReportMailed():
            card = state.card(command.card_id)
            _require(card, "produced", "mailed")
            if card.delivery != "mail":
                raise CardStatusError("This card is to be picked up at a branch, not mailed.")
            return [
                CardMailed(
                    card_id=command.card_id,
                    courier=command.courier,
                    tracking_number=command.tracking_number,
                )
            ]


def _apply(state: Holder, command: ApplyForCard) -> list[EventPayload]:
    needed: tuple[VerificationLevel, ...] = (
        ("real_person",) if command.kind == "online" else ("real_name", "real_person")
    )
    if command.holder_level not in needed:
        raise IdentityNotVerifiedError()
    if state.valid_cards():
        raise CardAlreadyHeldError()
    return [
        CardApplied(
            card_id=command.card_id,
            region=command.region,
            channel=command.channel,
            kind=command.kind,
            delivery=command.delivery,
            fee_fen=FIRST_CARD_FEE_FEN,
        )
    ]


def _require(card: Card, status: CardStatus, action: str) -> None:
    if card.status != status:
        raise CardStatusError(f"A card that is {card.status} cannot be {action}.")


def evolve(state: Holder, event: EventPayload) -> Holder:
    """Apply one of the holder's own events."""
    match event:
        case CardApplied():
            card = Card(card_id=event.card_id, region=event.region, delivery=event.delivery)
            return replace(state, cards={**state.cards, card.card_id: card})
        case CardProduced():
            return _with_status(state, event.card_id, "produced")
        case CardMailed():
            return _with_status(state, event.card_id, "mailed")
        case _:
            return state


def _with_status(state: Holder, card_id: str, status: CardStatus) -> Holder:
    card = replace(state.cards[card_id], status=status)
    return replace(state, cards={**state.cards, card_id: card})
