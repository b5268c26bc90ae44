"""The card service's commands: what channels, the printing agency, couriers, the scheduler
and foreign events ask of a holder's cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.contracts.card import ApplicationKind, DeliveryMethod, LossKind, ReplacementReason
from shared.contracts.identity import VerificationLevel


@dataclass(frozen=True)
class ApplyForCard:
    card_id: str
    region: str
    channel: str
    kind: ApplicationKind
    delivery: DeliveryMethod
    holder_level: VerificationLevel | None
    photo_ref: str | None = None
    under_7: bool = False
    id_checked: bool = False


@dataclass(frozen=True)
class StartProduction:
    card_id: str
    batch_id: str
    agency: str


@dataclass(frozen=True)
class ReportProduced:
    card_id: str
    card_number: str
    chip_serial: str
    agency: str


@dataclass(frozen=True)
class ReportProductionFailed:
    card_id: str
    reason: str
    agency: str


@dataclass(frozen=True)
class ReportMailed:
    card_id: str
    courier: str
    tracking_number: str


@dataclass(frozen=True)
class SendToBranch:
    card_id: str
    branch: str


@dataclass(frozen=True)
class ReportDelivered:
    card_id: str
    courier: str


@dataclass(frozen=True)
class CollectCard:
    card_id: str
    clerk: str


@dataclass(frozen=True)
class ReportLost:
    card_id: str
    kind: LossKind
    channel: str
    at: datetime
    lapse_after: timedelta


@dataclass(frozen=True)
class Unblock:
    card_id: str


@dataclass(frozen=True)
class LapseLossReport:
    """The scheduler: a temporary loss report reached its end."""

    card_id: str
    at: datetime


@dataclass(frozen=True)
class ReplaceCard:
    card_id: str
    new_card_id: str
    reason: ReplacementReason
    fee_fen: int
    channel: str
    kind: ApplicationKind
    delivery: DeliveryMethod


@dataclass(frozen=True)
class CancelCard:
    card_id: str
    reason: str


@dataclass(frozen=True)
class SealCard:
    """The scheduler: a produced card reached its collect-and-activate deadline."""

    card_id: str
    produced_at: datetime
    at: datetime
    activated: bool


@dataclass(frozen=True)
class ClaimECard:
    region: str
    channel: str
    holder_level: VerificationLevel | None
    on_behalf: bool


@dataclass(frozen=True)
class MoveECard:
    """The holder claims the e-card in another province: it leaves this one, if the card it
    is bound to here is no longer valid."""

    to_region: str


@dataclass(frozen=True)
class PasswordLockChanged:
    """The activation service locked or unlocked the card's password."""

    card_id: str
    locked: bool


@dataclass(frozen=True)
class BindChannel:
    channel: str


@dataclass(frozen=True)
class UnlinkChannel:
    channel: str


Command = (
    ApplyForCard
    | MoveECard
    | StartProduction
    | ReportProduced
    | ReportProductionFailed
    | ReportMailed
    | SendToBranch
    | ReportDelivered
    | CollectCard
    | ReportLost
    | Unblock
    | LapseLossReport
    | ReplaceCard
    | CancelCard
    | SealCard
    | ClaimECard
    | PasswordLockChanged
    | BindChannel
    | UnlinkChannel
)
