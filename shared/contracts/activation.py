"""Events published by the activation service on ``activation.events``."""

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal, get_args

from pydantic import Field

from shared.contracts.base import EventPayload
from shared.topics import Producer

ActivationChannel = Literal["window", "online_hall", "bank", "hospital", "pharmacy"]


@dataclass(frozen=True)
class ChannelRule:
    """How a card is activated through one channel: who calls, what must be shown first, and
    how messages name it. A new channel is one entry below (its name also in
    ``ActivationChannel``), and a rule in activation's domain only if it has one of its own."""

    roles: tuple[str, ...]
    shown_as: tuple[str, str]
    #: Staff check the holder's original ID card.
    id_check: bool = False
    #: A recent real-person verification of the holder (self-service).
    face_check: bool = False
    #: The card it replaces is inserted first (a pharmacy's card switch).
    old_card: bool = False


#: The activation channels (domain.md, "Activation").
ACTIVATION_CHANNELS: dict[ActivationChannel, ChannelRule] = {
    "window": ChannelRule(("window",), ("服务窗口", "a service window"), id_check=True),
    "online_hall": ChannelRule(
        ("online_hall", "citizen_app"), ("网上服务大厅", "the online service hall"), face_check=True
    ),
    "bank": ChannelRule(("bank",), ("银行网点", "a bank outlet"), id_check=True),
    "hospital": ChannelRule(("hospital",), ("定点医院", "a designated hospital")),
    "pharmacy": ChannelRule(("pharmacy",), ("定点药店", "a designated pharmacy"), old_card=True),
}
assert set(ACTIVATION_CHANNELS) == set(get_args(ActivationChannel)), "one entry per channel"
#: The channel a caller's activation goes through, by the caller's role.
CHANNEL_OF_ROLE: dict[str, ActivationChannel] = {
    role: name for name, rule in ACTIVATION_CHANNELS.items() for role in rule.roles
}


class CardActivated(EventPayload):
    """A physical card's social security function was activated (启用)."""

    event_type: ClassVar[str] = "CardActivated"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="Id of the card that was activated.")
    channel: ActivationChannel = Field(description="How the card was activated.")
    operator: str = Field(description="Credential name of the caller that activated it.")
    card_kind: Literal["physical", "electronic"] = Field(
        "physical", description="The physical card, or the electronic card bound to it."
    )
    effective_at: datetime | None = Field(
        None,
        description="When it can be used, if later than now: some regions process a new "
        "e-card for a while before it works.",
    )


ActivationRefusal = Literal[
    "CARD_NOT_DELIVERED",
    "CARD_REPORTED_LOST",
    "CARD_NO_LONGER_VALID",
    "IDENTITY_NOT_VERIFIED",
    "VERIFICATION_TOO_OLD",
    "ID_CHECK_REQUIRED",
    "OLD_CARD_MISMATCH",
]


class ActivationRefused(EventPayload):
    """A holder's activation attempt was refused; nothing else changed."""

    event_type: ClassVar[str] = "ActivationRefused"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="Id of the card.")
    channel: ActivationChannel = Field(description="The channel that tried.")
    reason: ActivationRefusal = Field(description="Stable reason code.")


class MedicalAccountEnabled(EventPayload):
    """After activation the card's medical insurance account works normally again."""

    event_type: ClassVar[str] = "MedicalAccountEnabled"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="The card whose account is enabled.")


class MedicalAccountMoved(EventPayload):
    """The replacement card inherited the medical insurance account of the card it replaced;
    the old card no longer works."""

    event_type: ClassVar[str] = "MedicalAccountMoved"
    producer: ClassVar[Producer] = "activation"

    from_card_id: str = Field(description="The replaced card.")
    to_card_id: str = Field(description="The card that holds the account now.")


CardKind = Literal["physical", "electronic"]


class PasswordSet(EventPayload):
    """The holder set the e-card's own password when activating it (never in the event)."""

    event_type: ClassVar[str] = "PasswordSet"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="The physical card the e-card is bound to.")
    card_kind: CardKind = Field(description="Whose password (the e-card's).")
    channel: str = Field(description="Channel it was set through.")


class PasswordChanged(EventPayload):
    """The holder changed a card's service password (the hash is never in an event)."""

    event_type: ClassVar[str] = "PasswordChanged"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="The card.")
    card_kind: CardKind = Field(description="Whose password: the physical card's or the e-card's.")
    channel: str = Field(description="Channel the change came through.")


class PasswordAttemptFailed(EventPayload):
    """A wrong password was entered (it counts toward the lock)."""

    event_type: ClassVar[str] = "PasswordAttemptFailed"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="The card.")
    card_kind: CardKind = Field(description="Whose password.")
    channel: str = Field(description="Where it was entered.")
    failed_at: datetime = Field(description="When (UTC).")


class PasswordLocked(EventPayload):
    """Too many wrong passwords: the password is locked (the other card kind is untouched)."""

    event_type: ClassVar[str] = "PasswordLocked"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="The card.")
    card_kind: CardKind = Field(description="Whose password.")
    failures: int = Field(description="Wrong entries within the window that locked it.")
    locked_until: datetime = Field(description="When it unlocks by itself (UTC).")


class PasswordUnlocked(EventPayload):
    """A locked password was unlocked at a window with the holder's ID."""

    event_type: ClassVar[str] = "PasswordUnlocked"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="The card.")
    card_kind: CardKind = Field(description="Whose password.")
    channel: str = Field(description="Where it was unlocked.")


class PasswordReset(EventPayload):
    """The password was reset after the holder proved who they are (window with ID, or online
    with an SMS code and a face check); a reset also unlocks."""

    event_type: ClassVar[str] = "PasswordReset"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="The card.")
    card_kind: CardKind = Field(description="Whose password.")
    channel: str = Field(description="Where it was reset.")


class FinancialFunctionActivated(EventPayload):
    """The card's financial (bank) function was activated at the bank on the card face."""

    event_type: ClassVar[str] = "FinancialFunctionActivated"
    producer: ClassVar[Producer] = "activation"

    card_id: str = Field(description="The card.")
    bank: str = Field(description="Credential name of the bank outlet that activated it.")


#: How much a settlement was for, in yuan, as a band (the amount itself stays with the
#: hospital or pharmacy): "unknown" when the terminal did not say.
AmountBand = Literal["under_100", "100_to_500", "500_to_2000", "2000_and_over", "unknown"]


class _Settlement(EventPayload):
    """What every settlement record says: which card, how, where, how much."""

    card_id: str = Field(description="The physical card, or the card the e-card is bound to.")
    card_kind: CardKind = Field(description="Paid with the physical card or the e-card.")
    channel: str = Field(description="Who asked: hospital or pharmacy (the caller's role).")
    facility_id: str | None = Field(description="The hospital's or pharmacy's own id, if given.")
    amount_band: AmountBand = Field(description="The settlement's amount, as a band.")
    payment_code_id: str | None = Field(
        None, description="The e-card payment code (展码) it was paid with, if one."
    )


class SettlementAuthorized(_Settlement):
    """A medical settlement with the card, or a payment with the e-card, was authorised:
    the card may pay and the password was right."""

    event_type: ClassVar[str] = "SettlementAuthorized"
    producer: ClassVar[Producer] = "activation"


class SettlementRefused(_Settlement):
    """A settlement or e-card payment was refused; the reason is the code the terminal got."""

    event_type: ClassVar[str] = "SettlementRefused"
    producer: ClassVar[Producer] = "activation"

    reason: str = Field(
        description="Stable code: why the card may not pay (CARD_REPORTED_LOST, CARD_REPLACED, "
        "E_CARD_SUSPENDED, ...) or the password check (PASSWORD_WRONG, PASSWORD_LOCKED, "
        "PASSWORD_CHANGE_REQUIRED)."
    )


class SmsCodeIssued(EventPayload):
    """A one-time code for the holder's password recovery, to be sent by SMS: 6 digits, valid
    5 minutes, at most 5 tries, single use. Only the notification service can open it."""

    event_type: ClassVar[str] = "SmsCodeIssued"
    producer: ClassVar[Producer] = "activation"

    code_id: str = Field(description="Id of the code; the holder sends it back with the code.")
    purpose: Literal["password_recovery"] = Field(description="What the code is for.")
    expires_at: datetime = Field(description="When it stops working (UTC).")
    key_id: str = Field(description="Id of the shared message key it is sealed under.")
    sealed_code: str = Field(
        description="The code, sealed (AES-256-GCM, base64) for the notification service."
    )
