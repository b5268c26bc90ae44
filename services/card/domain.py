"""The card service's pure domain: a person's cards (and e-card) in one province.

The stream holds every card of one person in one province, so the rule "one valid card per
person per province" is checked against one consistent history. Commands are in commands.py;
``decide`` turns one into events or a CardError saying why not, and ``HOLDER`` declares the
aggregate.
"""

from __future__ import annotations

from dataclasses import replace

from services.card.commands import (
    ApplyForCard,
    BindChannel,
    CancelCard,
    ClaimECard,
    CollectCard,
    Command,
    LapseLossReport,
    MoveECard,
    PasswordLockChanged,
    ReplaceCard,
    ReportDelivered,
    ReportLost,
    ReportMailed,
    ReportProduced,
    ReportProductionFailed,
    SealCard,
    SendToBranch,
    StartProduction,
    Unblock,
    UnlinkChannel,
)
from services.card.errors import (
    CardAlreadyHeldError,
    CardNoLongerValidError,
    CardReportedLostError,
    CardStatusError,
    ChannelNotBoundError,
    ECardAlreadyClaimedError,
    ECardNotClaimedError,
    IdCheckRequiredError,
    IdentityNotVerifiedError,
    NoUsableCardError,
    PhotoRequiredError,
    ResolveTemporaryLossFirstError,
)
from services.card.holder import FINAL, IN_HAND, ISSUED, Card, Holder, evolve
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
    ECardClaimed,
    ECardMoved,
    ECardResumed,
    ECardSuspended,
)
from shared.contracts.identity import VerificationLevel
from shared.decider import Decider

FIRST_CARD_FEE_FEN = 0
IN_PRODUCTION = {"applied", "in_production"}


def decide(state: Holder, command: Command) -> list[EventPayload]:
    """The events a command causes, or a CardError saying why it is refused."""
    match command:
        case ApplyForCard():
            return _apply(state, command)
        case StartProduction():
            _require(state.card(command.card_id), {"applied"}, "taken into production")
            return [
                CardInProduction(
                    card_id=command.card_id, batch_id=command.batch_id, agency=command.agency
                )
            ]
        case ReportProduced():
            _require(state.card(command.card_id), IN_PRODUCTION, "reported produced")
            return [
                CardProduced(
                    card_id=command.card_id,
                    card_number=command.card_number,
                    chip_serial=command.chip_serial,
                    agency=command.agency,
                )
            ]
        case ReportProductionFailed():
            _require(state.card(command.card_id), IN_PRODUCTION, "reported failed")
            return [
                CardProductionFailed(
                    card_id=command.card_id, reason=command.reason, agency=command.agency
                )
            ]
        case ReportMailed() | SendToBranch() | ReportDelivered() | CollectCard():
            return _deliver(state, command)
        case ReportLost() | Unblock() | LapseLossReport():
            return _loss(state, command)
        case ReplaceCard():
            return _replace(state, command)
        case CancelCard():
            card = _valid(state.card(command.card_id))
            return [
                CardCancelled(card_id=card.card_id, reason=command.reason),
                *_suspend_ecard(state, card.card_id, "cancelled"),
            ]
        case SealCard():
            card = state.card(command.card_id)
            if command.activated or card.status not in ISSUED or not card.valid:
                return []  # activated in time, or no longer valid: nothing to seal
            return [
                CardSealed(
                    card_id=card.card_id, produced_at=command.produced_at, sealed_at=command.at
                ),
                *_suspend_ecard(state, card.card_id, "sealed"),
            ]
        case PasswordLockChanged():
            card = state.card(command.card_id)
            if card.password_locked == command.locked:
                return []
            noted = CardPasswordLockNoted(card_id=card.card_id, locked=command.locked)
            if command.locked:
                return [noted, *_suspend_ecard(state, card.card_id, "locked")]
            after = replace(card, password_locked=False)
            return [noted, *(_resume(state, after) if after.usable else [])]
        case ClaimECard() | BindChannel() | UnlinkChannel() | MoveECard():
            return _ecard(state, command)


def _apply(state: Holder, command: ApplyForCard) -> list[EventPayload]:
    needed: tuple[VerificationLevel, ...] = (
        ("real_person",) if command.kind == "online" else ("real_name", "real_person")
    )
    if command.holder_level not in needed:
        raise IdentityNotVerifiedError()
    if command.kind == "window" and not command.id_checked:
        raise IdCheckRequiredError()
    if command.photo_ref is None and not command.under_7:
        raise PhotoRequiredError()
    if state.valid_cards() or _awaiting_replacement(state):
        raise CardAlreadyHeldError()
    return [
        CardApplied(
            card_id=command.card_id,
            region=command.region,
            channel=command.channel,
            kind=command.kind,
            delivery=command.delivery,
            fee_fen=FIRST_CARD_FEE_FEN,
            photo_ref=command.photo_ref,
            id_checked=command.id_checked,
        )
    ]


def _deliver(
    state: Holder, command: ReportMailed | SendToBranch | ReportDelivered | CollectCard
) -> list[EventPayload]:
    card = _valid(state.card(command.card_id))
    match command:
        case ReportMailed():
            _require(card, {"produced"}, "mailed", delivery="mail")
            return [
                CardMailed(
                    card_id=card.card_id,
                    courier=command.courier,
                    tracking_number=command.tracking_number,
                )
            ]
        case SendToBranch():
            _require(card, {"produced"}, "sent to a branch", delivery="pickup")
            return [CardReadyForPickup(card_id=card.card_id, branch=command.branch)]
        case ReportDelivered():
            _require(card, {"mailed"}, "delivered")
            return [
                CardDelivered(card_id=card.card_id, courier=command.courier),
                *_resume_on(state, card),
            ]
        case CollectCard():
            _require(card, {"ready_for_pickup"}, "collected")
            return [
                CardCollected(card_id=card.card_id, clerk=command.clerk),
                *_resume_on(state, card),
            ]


def _loss(state: Holder, command: ReportLost | Unblock | LapseLossReport) -> list[EventPayload]:
    card = _valid(state.card(command.card_id))
    match command:
        case ReportLost():
            if card.status not in ISSUED:
                raise CardStatusError("Only a card that was produced can be reported lost.")
            if card.lost == "temporary" and command.kind == "temporary":
                return []  # already reported: the report stands as it is
            expires = command.at + command.lapse_after if command.kind == "temporary" else None
            lost = CardReportedLost(
                card_id=card.card_id, kind=command.kind, channel=command.channel, expires_at=expires
            )
            already_suspended = card.lost is not None
            return [
                lost,
                *([] if already_suspended else _suspend_ecard(state, card.card_id, "lost")),
            ]
        case Unblock():
            if card.lost != "temporary":
                raise CardStatusError("Only a temporarily lost card can be unblocked.")
            unblocked = replace(card, lost=None)
            resume = _resume(state, unblocked) if unblocked.usable else []
            return [CardUnblocked(card_id=card.card_id, reason="holder"), *resume]
        case LapseLossReport():
            if card.lost != "temporary" or card.lost_until is None or command.at < card.lost_until:
                return []  # unblocked, formalised, or not due: the timer has nothing to do
            unblocked = replace(card, lost=None)
            resume = _resume(state, unblocked) if unblocked.usable else []
            return [CardUnblocked(card_id=card.card_id, reason="expired"), *resume]


def _replace(state: Holder, command: ReplaceCard) -> list[EventPayload]:
    card = state.card(command.card_id)
    if card.lost == "temporary":
        raise ResolveTemporaryLossFirstError()
    if card.status in FINAL:
        raise CardNoLongerValidError()
    if card.status not in ISSUED:
        raise CardStatusError("Only a card that was produced can be replaced.")
    if (command.reason == "loss") != (card.lost == "formal"):
        raise CardStatusError(
            "A replacement for loss needs a formal loss report; other reasons need a valid card."
        )
    if [c for c in state.valid_cards() if c.card_id != card.card_id]:
        raise CardAlreadyHeldError()
    new = CardApplied(
        card_id=command.new_card_id,
        region=card.region,
        channel=command.channel,
        kind=command.kind,
        delivery=command.delivery,
        fee_fen=command.fee_fen,
    )
    replaced = CardReplaced(
        card_id=card.card_id,
        new_card_id=command.new_card_id,
        reason=command.reason,
        fee_fen=command.fee_fen,
    )
    suspended = [] if card.lost else _suspend_ecard(state, card.card_id, "replaced")
    return [replaced, *suspended, new]


def _ecard(
    state: Holder, command: ClaimECard | BindChannel | UnlinkChannel | MoveECard
) -> list[EventPayload]:
    match command:
        case ClaimECard():
            if command.holder_level != "real_person":
                raise IdentityNotVerifiedError(
                    "Claiming the electronic card needs face verification."
                )
            usable = [c for c in state.cards.values() if c.usable]
            # Claimed here already: refused, unless its card is no longer valid (it moves).
            moved = _move(state, command.region) if state.ecard is not None else []
            if not usable:
                raise NoUsableCardError()
            claimed = ECardClaimed(
                card_id=usable[0].card_id,
                region=command.region,
                channel=command.channel,
                on_behalf=command.on_behalf,
            )
            return [*moved, claimed, ChannelBound(channel=command.channel)]
        case MoveECard():
            return _move(state, command.to_region)
        case BindChannel():
            if state.ecard is None:
                raise ECardNotClaimedError()
            return (
                [] if command.channel in state.channels else [ChannelBound(channel=command.channel)]
            )
        case UnlinkChannel():
            if command.channel not in state.channels:
                raise ChannelNotBoundError()
            return [ChannelUnlinked(channel=command.channel)]


def _move(state: Holder, to_region: str) -> list[EventPayload]:
    """The e-card leaves its card for a valid one elsewhere: only when its card is no longer
    valid and no replacement is on its way (otherwise it stays, and follows the replacement)."""
    ecard = state.ecard
    if ecard is None:
        return []
    bound = state.cards.get(ecard.card_id)
    if bound is None or bound.valid or ecard.awaiting is not None:
        raise ECardAlreadyClaimedError()
    return [ECardMoved(card_id=ecard.card_id, to_region=to_region)]


def _awaiting_replacement(state: Holder) -> bool:
    """A formally lost card not yet replaced: the way to a new card is its replacement."""
    return any(c.lost == "formal" and c.status not in FINAL for c in state.cards.values())


def _suspend_ecard(state: Holder, card_id: str, reason: str) -> list[EventPayload]:
    ecard = state.ecard
    if ecard is None or ecard.card_id != card_id or ecard.suspended:
        return []
    return [ECardSuspended(card_id=card_id, reason=reason)]


def _resume(state: Holder, card: Card) -> list[EventPayload]:
    """The loss report on this card ended: the e-card works again if it is bound to it, or
    moves to it if it is the replacement the holder already has in hand."""
    ecard = state.ecard
    if ecard is None or not ecard.suspended:
        return []
    bound = ecard.card_id == card.card_id
    arrived = ecard.awaiting == card.card_id and card.status in IN_HAND
    return [ECardResumed(card_id=card.card_id)] if bound or arrived else []


def _resume_on(state: Holder, card: Card) -> list[EventPayload]:
    """The replacement reached the holder: the e-card moves to it without a new claim."""
    ecard = state.ecard
    if ecard is None or ecard.awaiting != card.card_id or card.lost or card.password_locked:
        return []
    return [ECardResumed(card_id=card.card_id)]


def _valid(card: Card) -> Card:
    if not card.valid:
        raise CardNoLongerValidError()
    return card


def _require(card: Card, statuses: set[str], action: str, *, delivery: str | None = None) -> None:
    if card.status not in statuses:
        raise CardStatusError(f"A card that is {card.status} cannot be {action}.")
    if delivery is not None and card.delivery != delivery:
        raise CardStatusError(f"This card is for {card.delivery}, so it cannot be {action}.")
    if card.lost is not None and card.status in IN_HAND:
        raise CardReportedLostError()


#: A person's cards in one province; streams ``cards-<person id>-<province>``.
HOLDER: Decider[Holder, Command] = Decider("cards", Holder(), evolve, decide)
