"""May this card pay now: one rule for a medical settlement with the physical card and for a
payment with the e-card (domain.md, "Paying with the card"). Pure: it reads only what the
card service's and this service's own events established."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.activation.domain import DELIVERED
from shared.contracts.activation import AmountBand

#: Why a card may not pay now; also the refusal's code at the edge.
PaymentRefusal = Literal[
    "CARD_REPORTED_LOST",
    "CARD_REPLACED",
    "CARD_CANCELLED",
    "CARD_SEALED",
    "CARD_NOT_DELIVERED",
    "CARD_NOT_ACTIVE",
    "E_CARD_SUSPENDED",
    "E_CARD_NOT_ACTIVE",
]

#: The statuses of a card that can no longer pay, each with its own refusal.
ENDED: dict[str, PaymentRefusal] = {
    "replaced": "CARD_REPLACED",
    "cancelled": "CARD_CANCELLED",
    "sealed": "CARD_SEALED",
    "production_failed": "CARD_NOT_DELIVERED",
}


@dataclass(frozen=True)
class PayingCard:
    """What is known of a physical card when it is presented to pay."""

    status: str
    #: "temporary" or "formal" while reported lost, else None.
    lost: str | None
    #: Activated (CardActivated on its activation stream).
    active: bool


def card_refusal(card: PayingCard) -> PaymentRefusal | None:
    """Why this physical card may not pay now, or None (its password is checked after)."""
    if card.status in ENDED:
        return ENDED[card.status]
    if card.lost is not None:
        return "CARD_REPORTED_LOST"
    if card.status not in DELIVERED:  # a card pays only once it is in the holder's hands
        return "CARD_NOT_DELIVERED"
    if not card.active:
        return "CARD_NOT_ACTIVE"
    return None


def ecard_refusal(
    suspended: str | None, ecard_active: bool, bound: PayingCard
) -> PaymentRefusal | None:
    """Why the e-card may not pay now, or None: it pays only while it is active, not
    suspended, and the physical card it is bound to may pay."""
    if (refused := card_refusal(bound)) is not None:
        return refused  # the card's own reason says more than "suspended"
    if suspended is not None:
        return "E_CARD_SUSPENDED"
    if not ecard_active:
        return "E_CARD_NOT_ACTIVE"
    return None


def amount_band(amount_fen: int | None) -> AmountBand:
    """The band a settlement's amount (in fen) falls in."""
    if amount_fen is None:
        return "unknown"
    yuan = amount_fen / 100
    if yuan < 100:
        return "under_100"
    if yuan < 500:
        return "100_to_500"
    if yuan < 2000:
        return "500_to_2000"
    return "2000_and_over"


@dataclass(frozen=True)
class Settlement:
    """Where a settlement is asked for, and for how much (as a band)."""

    channel: str
    facility_id: str | None = None
    amount_band: AmountBand = "unknown"
    #: Paid by showing a code (展码): its id (used once) and the card it was issued for.
    payment_code_id: str | None = None
    code_card_id: str | None = None
    code_channel: str | None = None
    code_expired: bool = False


def settlement_stream(key: str) -> str:
    """The stream of every settlement or e-card payment with one card (its kind in ``key``)."""
    return f"settlement-{key}"
