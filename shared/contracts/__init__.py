"""Event contracts: every event type, at every schema version, and how to read them back."""

from typing import Any

from shared.contracts.access import PersonDataAccessed
from shared.contracts.activation import (
    ActivationRefused,
    CardActivated,
    FinancialFunctionActivated,
    MedicalAccountEnabled,
    MedicalAccountMoved,
    PasswordAttemptFailed,
    PasswordChanged,
    PasswordLocked,
    PasswordReset,
    PasswordSet,
    PasswordUnlocked,
    SettlementAuthorized,
    SettlementRefused,
    SmsCodeIssued,
)
from shared.contracts.base import EventPayload
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
from shared.contracts.identity import (
    FaceVerificationLocked,
    FamilyMemberLinked,
    FamilyMemberUnlinked,
    GuardianConsentRecorded,
    IdentityVerificationFailed,
    IdentityVerified,
    PersonalDataErased,
    PersonFactsIssued,
    PersonRegistered,
)
from shared.contracts.notification import (
    NotificationFailed,
    NotificationPreferencesChanged,
    NotificationRetried,
    NotificationScheduled,
    NotificationSent,
    NotificationSuppressed,
)
from shared.envelope import Envelope

ALL_EVENTS: tuple[type[EventPayload], ...] = (
    PersonRegistered,
    PersonFactsIssued,
    IdentityVerified,
    IdentityVerificationFailed,
    FaceVerificationLocked,
    PersonalDataErased,
    FamilyMemberLinked,
    FamilyMemberUnlinked,
    GuardianConsentRecorded,
    CardApplied,
    CardInProduction,
    CardProduced,
    CardMailed,
    CardProductionFailed,
    CardReadyForPickup,
    CardDelivered,
    CardCollected,
    CardSealed,
    CardReportedLost,
    CardUnblocked,
    CardReplaced,
    CardCancelled,
    CardPasswordLockNoted,
    ECardClaimed,
    ECardMoved,
    ECardSuspended,
    ECardResumed,
    ChannelBound,
    ChannelUnlinked,
    CardActivated,
    ActivationRefused,
    FinancialFunctionActivated,
    MedicalAccountEnabled,
    MedicalAccountMoved,
    PasswordAttemptFailed,
    PasswordChanged,
    PasswordLocked,
    PasswordReset,
    PasswordSet,
    PasswordUnlocked,
    SettlementAuthorized,
    SettlementRefused,
    SmsCodeIssued,
    NotificationPreferencesChanged,
    NotificationScheduled,
    NotificationSuppressed,
    NotificationSent,
    NotificationFailed,
    NotificationRetried,
    PersonDataAccessed,
)

REGISTRY: dict[tuple[str, int], type[EventPayload]] = {
    (e.event_type, e.schema_version): e for e in ALL_EVENTS
}


class UnknownEventError(ValueError):
    """An envelope names an event type or schema version this code does not know."""


def parse_payload(envelope: Envelope) -> EventPayload:
    """The typed payload of an envelope; raises UnknownEventError or ValidationError."""
    model = REGISTRY.get((envelope.event_type, envelope.schema_version))
    if model is None:
        raise UnknownEventError(f"{envelope.event_type} v{envelope.schema_version}")
    return model.model_validate(envelope.payload)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every event payload, keyed ``<EventType>.v<version>``."""
    return {f"{e.event_type}.v{e.schema_version}": e.model_json_schema() for e in ALL_EVENTS}


__all__ = [
    "ALL_EVENTS",
    "REGISTRY",
    "ActivationRefused",
    "CardActivated",
    "CardApplied",
    "CardCancelled",
    "CardCollected",
    "CardDelivered",
    "CardInProduction",
    "CardMailed",
    "CardPasswordLockNoted",
    "CardProduced",
    "CardProductionFailed",
    "CardReadyForPickup",
    "CardReplaced",
    "CardReportedLost",
    "CardSealed",
    "CardUnblocked",
    "ChannelBound",
    "ChannelUnlinked",
    "ECardClaimed",
    "ECardMoved",
    "ECardResumed",
    "ECardSuspended",
    "EventPayload",
    "FaceVerificationLocked",
    "FamilyMemberLinked",
    "FamilyMemberUnlinked",
    "FinancialFunctionActivated",
    "GuardianConsentRecorded",
    "IdentityVerificationFailed",
    "IdentityVerified",
    "MedicalAccountEnabled",
    "MedicalAccountMoved",
    "NotificationFailed",
    "NotificationPreferencesChanged",
    "NotificationRetried",
    "NotificationScheduled",
    "NotificationSent",
    "NotificationSuppressed",
    "PasswordAttemptFailed",
    "PasswordChanged",
    "PasswordLocked",
    "PasswordReset",
    "PasswordSet",
    "PasswordUnlocked",
    "PersonDataAccessed",
    "PersonFactsIssued",
    "PersonRegistered",
    "PersonalDataErased",
    "SettlementAuthorized",
    "SettlementRefused",
    "SmsCodeIssued",
    "UnknownEventError",
    "json_schemas",
    "parse_payload",
]
