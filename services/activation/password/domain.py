"""Service passwords of a card (physical or e-card): the policy, and the password's stream.

Pure: the handler hashes and checks (Argon2id) and tells the decider whether the password
given was right. Six digits; never all the same digit, an ascending or descending run, or six
digits taken from the holder's ID number. Wrong entries lock it (default 6 in 24 h).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from services.activation.errors import (
    CardNotActiveError,
    PasswordChangeRequiredError,
    PasswordLockedError,
    PasswordNotLockedError,
    PasswordWeakError,
)
from shared.contracts import EventPayload
from shared.contracts.activation import (
    CardKind,
    PasswordAttemptFailed,
    PasswordChanged,
    PasswordLocked,
    PasswordReset,
    PasswordUnlocked,
)
from shared.decider import Decider

DIGITS = "0123456789"
FROM_ID_NUMBER = "A password cannot be taken from the ID number."


def check_policy(password: str, id_number: str | None = None) -> None:
    """Refuse a weak password with the reason (the password itself is never repeated)."""
    if len(password) != 6 or not password.isascii() or not password.isdigit():
        raise PasswordWeakError("A password is exactly 6 digits.")
    if len(set(password)) == 1:
        raise PasswordWeakError("A password cannot be one digit repeated.")
    if password in DIGITS or password in DIGITS[::-1]:
        raise PasswordWeakError("A password cannot be an ascending or descending run.")
    if id_number and password in id_number:
        raise PasswordWeakError(FROM_ID_NUMBER)


@dataclass(frozen=True)
class LockRule:
    """How many wrong entries within a window lock the password, and for how long."""

    failures: int = 6
    window: timedelta = timedelta(hours=24)
    lock_for: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Password:
    """One card kind's password, as its events say."""

    failures: tuple[datetime, ...] = ()
    locked_until: datetime | None = None

    def locked_at(self, moment: datetime) -> bool:
        """Whether the password is locked at ``moment``."""
        return self.locked_until is not None and moment < self.locked_until


@dataclass(frozen=True)
class Enter:
    """A password entered: to authorise a settlement, or before changing it."""

    card_id: str
    kind: CardKind
    channel: str
    right: bool
    card_active: bool
    purpose: Literal["settlement", "change"]
    rule: LockRule
    at: datetime
    #: The password is still the region's initial one (no password of the holder's yet).
    initial: bool = False


@dataclass(frozen=True)
class Recover:
    """Unlock, or reset, after the holder proved who they are."""

    card_id: str
    kind: CardKind
    channel: str
    reset: bool


Command = Enter | Recover


def decide(state: Password, command: Command) -> list[EventPayload]:
    """The events of a password action, or the reason it is refused."""
    match command:
        case Enter():
            return _enter(state, command)
        case Recover(reset=True):
            return [
                PasswordReset(
                    card_id=command.card_id, card_kind=command.kind, channel=command.channel
                )
            ]
        case Recover():
            if state.locked_until is None:
                raise PasswordNotLockedError()
            return [
                PasswordUnlocked(
                    card_id=command.card_id, card_kind=command.kind, channel=command.channel
                )
            ]


def _enter(state: Password, command: Enter) -> list[EventPayload]:
    if not command.card_active:
        raise CardNotActiveError()
    if state.locked_at(command.at):
        raise PasswordLockedError()
    if command.right:
        if command.purpose == "change":
            return [
                PasswordChanged(
                    card_id=command.card_id, card_kind=command.kind, channel=command.channel
                )
            ]
        if command.initial:
            raise PasswordChangeRequiredError()
        return []
    rule = command.rule
    recent = [t for t in state.failures if command.at - t < rule.window]
    events: list[EventPayload] = [
        PasswordAttemptFailed(
            card_id=command.card_id,
            card_kind=command.kind,
            channel=command.channel,
            failed_at=command.at,
        )
    ]
    if len(recent) + 1 >= rule.failures:
        events.append(
            PasswordLocked(
                card_id=command.card_id,
                card_kind=command.kind,
                failures=len(recent) + 1,
                locked_until=command.at + rule.lock_for,
            )
        )
    return events


def evolve(state: Password, event: EventPayload) -> Password:
    """Apply one of the password's events."""
    match event:
        case PasswordChanged():
            return replace(state, failures=())
        case PasswordReset():
            return Password()
        case PasswordAttemptFailed():
            return replace(state, failures=(*state.failures, event.failed_at))
        case PasswordLocked():
            return replace(state, locked_until=event.locked_until, failures=())
        case PasswordUnlocked():
            return replace(state, locked_until=None, failures=())
        case _:
            return state


#: One card kind's password; streams ``password-<card id>-<kind>``.
PASSWORD: Decider[Password, Command] = Decider("password", Password(), evolve, decide)
