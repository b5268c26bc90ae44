"""The activation deciders: each channel's rule, the account, the bank function, the e-card."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.activation import domain as activation
from services.activation.errors import (
    REFUSAL_ERRORS,
    CardNotDeliveredError,
    CardNotFoundError,
    CardNotHeldError,
)
from shared.contracts.activation import (
    ActivationRefused,
    CardActivated,
    FinancialFunctionActivated,
    MedicalAccountEnabled,
    MedicalAccountMoved,
)
from tests.unit.samples import NOW, given


def activate(
    status: str | None = "delivered",
    lost: str | None = None,
    holder: str = "p1",
    level: activation.VerificationLevel | None = "real_person",
    channel: activation.ActivationChannel = "online_hall",
    verified_ago: timedelta = timedelta(minutes=1),
    id_checked: bool = False,
    replaces: str | None = None,
    old_card: str | None = None,
) -> activation.ActivateCard:
    facts = activation.CardFacts(holder, status, lost, replaces) if status else None
    return activation.ActivateCard(
        card_id="c1",
        person_id="p1",
        channel=channel,
        operator="app",
        card=facts,
        holder=activation.Holder(level, NOW - verified_ago),
        at=NOW,
        max_verification_age=timedelta(minutes=5),
        id_checked=id_checked,
        presented_old_card=old_card,
    )


def test_a_delivered_card_is_activated_online_by_its_verified_holder() -> None:
    events = activation.decide(activation.Activation(), activate())
    assert events == [
        CardActivated(card_id="c1", channel="online_hall", operator="app"),
        MedicalAccountEnabled(card_id="c1"),
    ]


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (activate(status=None), CardNotFoundError),
        (activate(holder="someone-else"), CardNotHeldError),
    ],
)
def test_unknown_or_foreign_cards_are_refused(
    command: activation.ActivateCard, error: type[Exception]
) -> None:
    with pytest.raises(error):
        activation.decide(activation.Activation(), command)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (activate(status="sealed"), "CARD_NO_LONGER_VALID"),
        (activate(lost="temporary"), "CARD_REPORTED_LOST"),
        (activate(level=None), "IDENTITY_NOT_VERIFIED"),
        (activate(level="real_name"), "IDENTITY_NOT_VERIFIED"),
        (activate(verified_ago=timedelta(minutes=6)), "VERIFICATION_TOO_OLD"),
        (activate(channel="window"), "ID_CHECK_REQUIRED"),
        (activate(channel="bank", level="real_name"), "ID_CHECK_REQUIRED"),
        (activate(channel="pharmacy", replaces="c0", old_card="cX"), "OLD_CARD_MISMATCH"),
    ],
)
def test_each_channel_refuses_by_its_rule(command: activation.ActivateCard, reason: str) -> None:
    [refused] = activation.decide(activation.Activation(), command)
    assert isinstance(refused, ActivationRefused)
    assert refused.reason == reason
    # Asked again just so: answered with the same reason, not recorded again.
    state = given(activation.evolve, activation.Activation(), refused)
    with pytest.raises(REFUSAL_ERRORS[reason]):
        activation.decide(state, command)


@pytest.mark.parametrize(
    "command",
    [
        activate(status="produced"),
        activate(status="mailed"),
        activate(status="mailed", channel="hospital"),
    ],
)
def test_a_card_not_in_hand_is_refused_and_nothing_is_recorded(
    command: activation.ActivateCard,
) -> None:
    with pytest.raises(CardNotDeliveredError):
        activation.decide(activation.Activation(), command)


@pytest.mark.parametrize(
    "command",
    [
        activate(channel="window", id_checked=True, level="real_name"),
        activate(channel="bank", id_checked=True, level="real_name"),
        activate(channel="hospital", level=None),
        activate(channel="pharmacy", level=None, replaces="c0", old_card="c0"),
    ],
)
def test_each_channel_activates_by_its_rule(command: activation.ActivateCard) -> None:
    events = activation.decide(activation.Activation(), command)
    assert isinstance(events[0], CardActivated)
    assert events[0].channel == command.channel


def test_a_replacement_inherits_the_account_once() -> None:
    events = activation.decide(activation.Activation(), activate(replaces="c0"))
    assert events[-1] == MedicalAccountMoved(from_card_id="c0", to_card_id="c1")
    state = given(activation.evolve, activation.Activation(), *events)
    assert activation.decide(state, activate(replaces="c0")) == [], "answered, not repeated"


@pytest.mark.parametrize(
    ("status", "lost"), [("replaced", None), ("cancelled", None), ("delivered", "formal")]
)
def test_an_active_card_no_longer_usable_is_refused_not_answered_as_active(
    status: str, lost: str | None
) -> None:
    active = given(
        activation.evolve,
        activation.Activation(),
        *activation.decide(activation.Activation(), activate()),
    )
    [refused] = activation.decide(active, activate(status=status, lost=lost))
    assert isinstance(refused, ActivationRefused)
    assert refused.reason == ("CARD_REPORTED_LOST" if lost else "CARD_NO_LONGER_VALID")


def test_the_bank_function_is_turned_on_once_with_the_id_checked() -> None:
    facts = activation.CardFacts("p1", "delivered")
    command = activation.ActivateFinancialFunction("c1", "p1", "bank", facts, id_checked=False)
    with pytest.raises(activation.IdCheckRequiredError):
        activation.decide_financial(activation.FinancialFunction(), command)
    checked = replace(command, id_checked=True)
    [event] = activation.decide_financial(activation.FinancialFunction(), checked)
    assert event == FinancialFunctionActivated(card_id="c1", bank="bank")
    state = activation.evolve_financial(activation.FinancialFunction(), event)
    assert activation.decide_financial(state, checked) == []


def test_an_ecard_works_after_its_regions_processing_delay() -> None:
    command = activation.ActivateECard(
        "p1",
        "c1",
        activation.Holder("real_person", NOW - timedelta(minutes=1)),
        NOW,
        timedelta(minutes=5),
        "app",
        processing_delay=timedelta(hours=2),
    )
    events = activation.decide_ecard(activation.Activation(), command)
    assert [e.event_type for e in events] == ["PasswordSet", "CardActivated"]
    state = given(activation.evolve, activation.Activation(), *events)
    assert not state.usable_at(NOW + timedelta(hours=1))
    assert state.usable_at(NOW + timedelta(hours=2))
    assert activation.decide_ecard(state, command) == []
