"""The card decider: given events, when a command, then events or a refusal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.card import commands as card_commands
from services.card import domain as card
from services.card import holder
from services.card.errors import (
    CardAlreadyHeldError,
    CardStatusError,
    ECardAlreadyClaimedError,
    IdCheckRequiredError,
    NoUsableCardError,
    PhotoRequiredError,
)
from services.card.errors import IdentityNotVerifiedError as CardIdentityNotVerifiedError
from shared.contracts.card import (
    ApplicationKind,
    CardApplied,
    CardDelivered,
    CardPasswordLockNoted,
    ChannelBound,
    ECardClaimed,
    ECardMoved,
    ECardResumed,
    ECardSuspended,
)
from shared.contracts.identity import VerificationLevel
from tests.unit.samples import APPLIED, MAILED, PRODUCED, given


def apply(
    level: VerificationLevel | None, kind: ApplicationKind = "online"
) -> card_commands.ApplyForCard:
    return card_commands.ApplyForCard(
        "c2", "410105", "online_hall", kind, "mail", level, "photo-1", id_checked=True
    )


def test_a_verified_person_applies_for_a_first_card_free() -> None:
    [event] = card.decide(holder.Holder(), apply("real_person"))
    assert isinstance(event, CardApplied)
    assert event.fee_fen == 0


def test_online_application_needs_face_verification() -> None:
    with pytest.raises(CardIdentityNotVerifiedError):
        card.decide(holder.Holder(), apply("real_name"))
    assert card.decide(holder.Holder(), apply("real_name", kind="window"))


def test_one_valid_card_per_person_per_province() -> None:
    with pytest.raises(CardAlreadyHeldError):
        card.decide(given(holder.evolve, holder.Holder(), APPLIED), apply("real_person"))


def test_production_then_mailing() -> None:
    state = given(holder.evolve, holder.Holder(), APPLIED)
    assert card.decide(state, card_commands.ReportProduced("c1", "S1", "AB", "agency")) == [
        PRODUCED
    ]
    state = given(holder.evolve, state, PRODUCED)
    assert card.decide(state, card_commands.ReportMailed("c1", "EMS", "EMS1")) == [MAILED]


def test_a_card_cannot_be_mailed_before_it_is_produced() -> None:
    with pytest.raises(CardStatusError):
        card.decide(
            given(holder.evolve, holder.Holder(), APPLIED),
            card_commands.ReportMailed("c1", "EMS", "1"),
        )


def test_a_card_cannot_be_produced_twice() -> None:
    state = given(holder.evolve, holder.Holder(), APPLIED, PRODUCED)
    with pytest.raises(CardStatusError):
        card.decide(state, card_commands.ReportProduced("c1", "S1", "AB", "agency"))


def test_a_window_application_needs_the_id_checked_and_a_photo_unless_under_7() -> None:
    window = card_commands.ApplyForCard("c2", "410105", "window", "window", "pickup", "real_name")
    with pytest.raises(IdCheckRequiredError):
        card.decide(holder.Holder(), replace(window, photo_ref="p-1"))
    with pytest.raises(PhotoRequiredError):
        card.decide(holder.Holder(), replace(window, id_checked=True))
    [applied] = card.decide(holder.Holder(), replace(window, id_checked=True, under_7=True))
    assert isinstance(applied, CardApplied)
    assert (applied.photo_ref, applied.id_checked) == (None, True)


def test_production_starts_in_a_batch() -> None:
    state = given(holder.evolve, holder.Holder(), APPLIED)
    [started] = card.decide(state, card_commands.StartProduction("c1", "b1", "agency"))
    state = given(holder.evolve, state, started)
    assert state.cards["c1"].status == "in_production"
    with pytest.raises(CardStatusError):
        card.decide(state, card_commands.StartProduction("c1", "b2", "agency"))
    assert card.decide(state, card_commands.ReportProduced("c1", "S1", "AB", "agency"))


def test_the_ecard_stops_while_the_cards_password_is_locked() -> None:
    delivered = CardDelivered(card_id="c1", courier="courier")
    claimed = ECardClaimed(card_id="c1", region="410105", channel="app", on_behalf=False)
    state = given(holder.evolve, holder.Holder(), APPLIED, PRODUCED, MAILED, delivered, claimed)
    locked = card.decide(state, card_commands.PasswordLockChanged("c1", locked=True))
    assert locked == [
        CardPasswordLockNoted(card_id="c1", locked=True),
        ECardSuspended(card_id="c1", reason="locked"),
    ]
    state = given(holder.evolve, state, *locked)
    with pytest.raises(NoUsableCardError):
        card.decide(
            replace(state, ecard=None),
            card_commands.ClaimECard("410105", "app", "real_person", False),
        )
    unlocked = card.decide(state, card_commands.PasswordLockChanged("c1", locked=False))
    assert unlocked == [
        CardPasswordLockNoted(card_id="c1", locked=False),
        ECardResumed(card_id="c1"),
    ]


def test_the_ecard_moves_only_from_a_card_no_longer_valid() -> None:
    delivered = CardDelivered(card_id="c1", courier="courier")
    claimed = ECardClaimed(card_id="c1", region="410105", channel="app", on_behalf=False)
    state = given(holder.evolve, holder.Holder(), APPLIED, PRODUCED, MAILED, delivered, claimed)
    # While its card is valid the e-card stays: claimed again, or elsewhere, it is refused.
    with pytest.raises(ECardAlreadyClaimedError):
        card.decide(state, card_commands.MoveECard("310101"))
    with pytest.raises(ECardAlreadyClaimedError):
        card.decide(state, card_commands.ClaimECard("410105", "app", "real_person", False))
    cancelled = card.decide(state, card_commands.CancelCard("c1", "MOVED"))
    state = given(holder.evolve, state, *cancelled)
    moved = card.decide(state, card_commands.MoveECard("310101"))
    assert moved == [ECardMoved(card_id="c1", to_region="310101")]
    after = given(holder.evolve, state, *moved)
    assert (after.ecard, after.channels) == (None, frozenset())
    # In the same province: a new card in hand, and the claim moves the e-card to it.
    new = [
        APPLIED.model_copy(update={"card_id": "c2"}),
        PRODUCED.model_copy(update={"card_id": "c2"}),
        MAILED.model_copy(update={"card_id": "c2"}),
        CardDelivered(card_id="c2", courier="courier"),
    ]
    state = given(holder.evolve, state, *new)
    again = card.decide(state, card_commands.ClaimECard("410105", "app", "real_person", False))
    assert [type(e) for e in again] == [ECardMoved, ECardClaimed, ChannelBound]
    assert again[1] == ECardClaimed(card_id="c2", region="410105", channel="app", on_behalf=False)
