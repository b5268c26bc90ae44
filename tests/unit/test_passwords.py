"""Service passwords: the policy (property tests) and the lock."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.activation.errors import (
    CardNotActiveError,
    PasswordChangeRequiredError,
    PasswordLockedError,
    PasswordWeakError,
)
from services.activation.password import domain as passwords
from shared.contracts.activation import PasswordAttemptFailed, PasswordChanged, PasswordLocked

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
RULE = passwords.LockRule()
ID_NUMBER = "11010519491231002X"
RUNS = {"012345", "123456", "234567", "345678", "456789"}
RUNS |= {r[::-1] for r in RUNS}


def weak(password: str) -> bool:
    return len(set(password)) == 1 or password in RUNS or password in ID_NUMBER


@given(st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_six_digits_are_accepted_unless_guessable(password: str) -> None:
    if weak(password):
        with pytest.raises(PasswordWeakError):
            passwords.check_policy(password, ID_NUMBER)
    else:
        passwords.check_policy(password, ID_NUMBER)


@given(st.text(max_size=12).filter(lambda s: not (len(s) == 6 and s.isascii() and s.isdigit())))
def test_anything_but_six_digits_is_refused(password: str) -> None:
    with pytest.raises(PasswordWeakError):
        passwords.check_policy(password)


def enter(
    right: bool,
    at: datetime = NOW,
    purpose: str = "settlement",
    active: bool = True,
    initial: bool = False,
) -> passwords.Enter:
    return passwords.Enter(
        "c1",
        "physical",
        "hospital",
        right,
        active,
        purpose,  # type: ignore[arg-type]
        RULE,
        at,
        initial,
    )


def run(state: passwords.Password, command: passwords.Command) -> passwords.Password:
    return functools.reduce(passwords.evolve, passwords.decide(state, command), state)


def test_the_initial_password_must_be_changed_before_a_settlement() -> None:
    with pytest.raises(PasswordChangeRequiredError):
        passwords.decide(passwords.Password(), enter(True, initial=True))
    changed = run(passwords.Password(), enter(True, purpose="change", initial=True))
    assert passwords.decide(changed, enter(True)) == []
    with pytest.raises(CardNotActiveError):
        passwords.decide(changed, enter(True, active=False))


def test_the_sixth_wrong_entry_locks_and_nothing_passes_the_lock() -> None:
    state = run(passwords.Password(), enter(True, purpose="change"))
    for n in range(5):
        events = passwords.decide(state, enter(False, NOW + timedelta(minutes=n)))
        assert [type(e) for e in events] == [PasswordAttemptFailed]
        state = functools.reduce(passwords.evolve, events, state)
    sixth = passwords.decide(state, enter(False, NOW + timedelta(minutes=6)))
    assert [type(e) for e in sixth] == [PasswordAttemptFailed, PasswordLocked]
    state = functools.reduce(passwords.evolve, sixth, state)
    for right in (True, False):
        with pytest.raises(PasswordLockedError):
            passwords.decide(state, enter(right, NOW + timedelta(hours=1)))
    unlocked = run(state, passwords.Recover("c1", "physical", "window", reset=False))
    assert passwords.decide(unlocked, enter(True, NOW + timedelta(hours=1))) == []
    assert isinstance(passwords.decide(unlocked, enter(True, purpose="change"))[0], PasswordChanged)
