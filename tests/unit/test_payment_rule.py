"""May this card pay now: the activation service's rule, fed only with what the card
service's events tell it, agrees with the card service's own state at every step of any
card lifecycle (and with the e-card's suspension)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from services.activation.payment import domain as payment
from services.activation.payment.domain import PayingCard
from shared.contracts import EventPayload
from shared.contracts.card import (
    STATUS_AFTER,
    CardReplaced,
    CardReportedLost,
    CardUnblocked,
    ECardClaimed,
    ECardResumed,
    ECardSuspended,
)
from tests.unit.test_card_lifecycle import CARDS, CardLifecycle


def as_activation_learns(history: list[EventPayload]) -> dict[str, tuple[str, str | None]]:
    """Each card's status and loss, as the activation service derives them from card.events."""
    cards: dict[str, tuple[str, str | None]] = {}
    for event in history:
        card_id = getattr(event, "card_id", None)
        if card_id is None:
            continue
        status, lost = cards.get(card_id, ("applied", None))
        if event.event_type in STATUS_AFTER:
            status = STATUS_AFTER[event.event_type]
        if isinstance(event, CardReportedLost):
            lost = event.kind
        if isinstance(event, CardUnblocked):
            lost = None
        if isinstance(event, CardReplaced):
            status = "replaced"
        cards[card_id] = (status, lost)
    return cards


def ecard_as_activation_learns(history: list[EventPayload]) -> tuple[str | None, str | None]:
    """The card the e-card is bound to, and why it is suspended (or None)."""
    bound: str | None = None
    suspended: str | None = None
    for event in history:
        match event:
            case ECardClaimed() | ECardResumed():
                bound, suspended = event.card_id, None
            case ECardSuspended():
                suspended = event.reason
    return bound, suspended


class PayingLifecycle(CardLifecycle):
    """The card lifecycle, with holders activating their cards now and then."""

    def __init__(self) -> None:
        super().__init__()
        self.activated: set[str] = set()

    @rule(n=CARDS, then_activate=st.booleans())
    def mail_and_deliver(self, n: int, then_activate: bool) -> None:
        super().mail_and_deliver(n)
        if then_activate:  # most holders activate once the card is in hand
            self.activate(n)

    @rule(n=CARDS, then_activate=st.booleans())
    def branch_and_collect(self, n: int, then_activate: bool) -> None:
        super().branch_and_collect(n)
        if then_activate:
            self.activate(n)

    @rule(n=CARDS)
    def activate(self, n: int) -> None:
        # What the activation service allows: a card in hand, not lost, still valid.
        card_id = self.card_id(n)
        status, lost = as_activation_learns(self.history).get(card_id, ("", None))
        if status in {"delivered", "collected"} and lost is None:
            self.activated.add(card_id)

    @invariant()
    def a_card_pays_exactly_when_the_card_service_holds_it_usable_and_it_is_active(self) -> None:
        for card_id, (status, lost) in as_activation_learns(self.history).items():
            refusal = payment.card_refusal(PayingCard(status, lost, card_id in self.activated))
            card = self.state.cards[card_id]
            truth = card.valid and card.status in {"delivered", "collected"} and card.lost is None
            assert (refusal is None) == (truth and card_id in self.activated), (card, refusal)

    @invariant()
    def the_ecard_pays_only_on_a_card_that_may_pay_and_never_while_suspended(self) -> None:
        bound, suspended = ecard_as_activation_learns(self.history)
        if bound is None:
            return
        status, lost = as_activation_learns(self.history)[bound]
        paying = PayingCard(status, lost, bound in self.activated)
        refusal = payment.ecard_refusal(suspended, True, paying)
        if refusal is None:
            card = self.state.cards[bound]
            assert card.usable, (card, self.state.ecard)
            assert bound in self.activated
            assert self.state.ecard is not None
            assert not self.state.ecard.suspended


PayingLifecycle.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None
)
TestPayingLifecycle = PayingLifecycle.TestCase
