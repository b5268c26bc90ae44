"""The card lifecycle as a state machine: any sequence of commands keeps the invariants."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.card import commands, domain
from services.card.errors import CardError
from shared.contracts import EventPayload

START = datetime(2026, 1, 1, tzinfo=UTC)
CARDS = st.integers(0, 7)
RARELY = st.integers(0, 9).map(lambda n: n == 0)


class CardLifecycle(RuleBasedStateMachine):
    """Random commands against one holder's stream, as the service would run them."""

    def __init__(self) -> None:
        super().__init__()
        self.state = domain.Holder()
        self.now = START
        self.created = 0
        self.history: list[EventPayload] = []

    def card_id(self, n: int) -> str:
        """Mostly the newest card (where the life goes on), sometimes an older one."""
        if n < 4 or self.created == 0:
            return f"c{max(self.created - 1, 0)}"
        return f"c{n % self.created}"

    def run(self, command: commands.Command) -> None:
        before = self.state
        try:
            events = domain.decide(self.state, command)
        except CardError:
            return
        self.state = functools.reduce(domain.evolve, events, self.state)
        self.history.extend(events)
        for card_id, card in before.cards.items():
            if card.status in domain.FINAL:
                assert self.state.cards[card_id].status == card.status, "final states stay final"

    @rule(window=st.booleans())
    def apply(self, window: bool) -> None:
        command = commands.ApplyForCard(
            f"c{self.created}",
            "410105",
            "x",
            "window" if window else "online",
            "mail",
            "real_person",
            "photo-1",
            id_checked=True,
        )
        if f"c{self.created}" not in self.state.cards:
            self.run(command)
            if f"c{self.created}" in self.state.cards:
                self.created += 1

    @rule(n=CARDS, fail=RARELY)
    def produce(self, n: int, fail: bool) -> None:
        card_id = self.card_id(n)
        if not fail:
            self.run(commands.ReportProduced(card_id, "S1", "AB", "agency"))
        else:
            self.run(commands.ReportProductionFailed(card_id, "PHOTO_UNUSABLE", "agency"))

    @rule(n=CARDS)
    def mail_and_deliver(self, n: int) -> None:
        self.run(commands.ReportMailed(self.card_id(n), "EMS", "EMS1"))
        self.run(commands.ReportDelivered(self.card_id(n), "courier"))

    @rule(n=CARDS)
    def branch_and_collect(self, n: int) -> None:
        self.run(commands.SendToBranch(self.card_id(n), "branch-1"))
        self.run(commands.CollectCard(self.card_id(n), "clerk"))

    @rule(n=CARDS, formal=st.booleans())
    def report_lost(self, n: int, formal: bool) -> None:
        kind = "formal" if formal else "temporary"
        self.run(commands.ReportLost(self.card_id(n), kind, "x", self.now, timedelta(days=7)))

    @rule(n=CARDS)
    def unblock(self, n: int) -> None:
        self.run(commands.Unblock(self.card_id(n)))

    @rule(days=st.sampled_from([1, 3, 8, 200, 400]), n=CARDS, activated=st.booleans())
    def time_passes(self, days: int, n: int, activated: bool) -> None:
        self.now += timedelta(days=days)
        self.run(commands.LapseLossReport(self.card_id(n), self.now))
        self.run(commands.SealCard(self.card_id(n), START, self.now, activated))

    @rule(n=CARDS, reason=st.sampled_from(["loss", "damage", "move"]))
    def replace(self, n: int, reason: commands.ReplacementReason) -> None:
        before = set(self.state.cards)
        self.run(
            commands.ReplaceCard(
                self.card_id(n), f"c{self.created}", reason, 2000, "x", "online", "mail"
            )
        )
        if set(self.state.cards) != before:
            self.created += 1

    @rule(n=CARDS, now=RARELY)
    def cancel(self, n: int, now: bool) -> None:
        if now:
            self.run(commands.CancelCard(self.card_id(n), "HOLDER_REQUEST"))

    @rule(n=CARDS, locked=st.booleans())
    def password_lock(self, n: int, locked: bool) -> None:
        self.run(commands.PasswordLockChanged(self.card_id(n), locked))

    @rule()
    def claim_ecard(self) -> None:
        self.run(commands.ClaimECard("410105", "alipay", "real_person", on_behalf=False))

    @invariant()
    def one_valid_card_per_province(self) -> None:
        assert len(self.state.valid_cards()) <= 1

    @invariant()
    def a_working_ecard_sits_on_a_usable_card(self) -> None:
        ecard = self.state.ecard
        if ecard is not None and not ecard.suspended:
            assert self.state.cards[ecard.card_id].usable, (ecard, self.state.cards)

    @invariant()
    def a_suspended_ecard_waits_for_a_reason(self) -> None:
        ecard = self.state.ecard
        if ecard is not None and ecard.suspended and ecard.awaiting is None:
            assert not self.state.cards[ecard.card_id].usable, "no e-card stays suspended"


CardLifecycle.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestCardLifecycle = CardLifecycle.TestCase
