"""The activation service's domain errors."""

from shared.errors import DomainError


class ActivationError(DomainError):
    """Base of every refusal by the activation service."""

    code = "ACTIVATION_ERROR"


class CardNotFoundError(ActivationError):
    code = "CARD_NOT_FOUND"
    default_message = "No card with this id is known."


class CardNotDeliveredError(ActivationError):
    code = "CARD_NOT_DELIVERED"
    default_message = (
        "The card is not in its holder's hands yet (delivered or collected): it can be neither "
        "activated nor used to pay."
    )


class CardNotHeldError(ActivationError):
    code = "CARD_NOT_HELD"
    default_message = "This card belongs to someone else."


class IdentityNotVerifiedError(ActivationError):
    code = "IDENTITY_NOT_VERIFIED"
    default_message = "Online activation needs the holder's real-name and face verification first."


class CardReportedLostError(ActivationError):
    code = "CARD_REPORTED_LOST"
    default_message = "The card is reported lost; unblock it (or use its replacement) first."


class CardNoLongerValidError(ActivationError):
    code = "CARD_NO_LONGER_VALID"
    default_message = (
        "The card is no longer valid (sealed, replaced, cancelled or never produced); "
        "apply for a new one."
    )


class VerificationTooOldError(ActivationError):
    code = "VERIFICATION_TOO_OLD"
    default_message = "Online activation needs a face verification made in the last few minutes."


class IdCheckRequiredError(ActivationError):
    code = "ID_CHECK_REQUIRED"
    default_message = "Staff check the holder's original ID card before activating."


class OldCardMismatchError(ActivationError):
    code = "OLD_CARD_MISMATCH"
    default_message = "The old card inserted is not the card this new card replaces."


#: The refusal a channel gets for each recorded refusal.
REFUSAL_ERRORS: dict[str, type[ActivationError]] = {
    "CARD_NOT_DELIVERED": CardNotDeliveredError,
    "CARD_REPORTED_LOST": CardReportedLostError,
    "CARD_NO_LONGER_VALID": CardNoLongerValidError,
    "IDENTITY_NOT_VERIFIED": IdentityNotVerifiedError,
    "VERIFICATION_TOO_OLD": VerificationTooOldError,
    "ID_CHECK_REQUIRED": IdCheckRequiredError,
    "OLD_CARD_MISMATCH": OldCardMismatchError,
}


class CardNotActiveError(ActivationError):
    code = "CARD_NOT_ACTIVE"
    default_message = "The card is not activated yet."


class PasswordCheckUnavailableError(ActivationError):
    code = "PASSWORD_CHECK_UNAVAILABLE"
    default_message = (
        "The platform cannot yet check the new password against the holder's ID number; "
        "try again shortly (after a verification, or once the operator issued the facts)."
    )


class PasswordWeakError(ActivationError):
    code = "PASSWORD_WEAK"
    default_message = "The password is too easy to guess."


class PasswordWrongError(ActivationError):
    code = "PASSWORD_WRONG"
    default_message = "The password is wrong."


class PasswordLockedError(ActivationError):
    code = "PASSWORD_LOCKED"
    default_message = (
        "The password is locked after too many wrong entries; unlock it at a service window "
        "with your ID card, or reset it online with an SMS code and a face check."
    )


class PasswordNotLockedError(ActivationError):
    code = "PASSWORD_NOT_LOCKED"
    default_message = "The password is not locked."


class PasswordChangeRequiredError(ActivationError):
    code = "PASSWORD_CHANGE_REQUIRED"
    default_message = (
        "The card still has its initial password: change it before the first medical settlement."
    )


class RecoveryProofRequiredError(ActivationError):
    code = "RECOVERY_PROOF_REQUIRED"
    default_message = (
        "To unlock or reset: at a window the clerk checks the ID card; online, an SMS code "
        "and a recent face verification are needed."
    )


class FamilyLinkRequiredError(ActivationError):
    code = "FAMILY_LINK_REQUIRED"
    default_message = "Only the holder, or a family member they linked, may do this."


class ECardNotClaimedError(ActivationError):
    code = "E_CARD_NOT_CLAIMED"
    default_message = "The electronic card has not been claimed yet."


class ECardProcessingError(ActivationError):
    code = "E_CARD_PROCESSING"
    default_message = "The region is still processing the new electronic card; try again soon."


class CardReplacedError(ActivationError):
    code = "CARD_REPLACED"
    default_message = "This card was replaced by a new one; use the new card."


class CardCancelledError(ActivationError):
    code = "CARD_CANCELLED"
    default_message = "This card is cancelled."


class CardSealedError(ActivationError):
    code = "CARD_SEALED"
    default_message = "This card was sealed, not activated within a year; apply for a new one."


class ECardSuspendedError(ActivationError):
    code = "E_CARD_SUSPENDED"
    default_message = (
        "The electronic card is suspended while its physical card is lost, locked or no "
        "longer valid."
    )


class ECardNotActiveError(ActivationError):
    code = "E_CARD_NOT_ACTIVE"
    default_message = "The electronic card is not active yet: set its password first."


class PaymentCodeInvalidError(ActivationError):
    code = "PAYMENT_CODE_INVALID"
    default_message = "This payment code was not issued by the platform, or was altered."


class PaymentCodeExpiredError(ActivationError):
    code = "PAYMENT_CODE_EXPIRED"
    default_message = "This payment code has expired; ask the holder to show a new one."


class ChannelNotBoundError(ActivationError):
    code = "CHANNEL_NOT_BOUND"
    default_message = (
        "This channel is not bound to the holder's electronic card (or was unlinked): the "
        "holder binds it first."
    )


class PaymentCodeUsedError(ActivationError):
    code = "PAYMENT_CODE_USED"
    default_message = "This payment code was already used; each code pays once."


#: The refusal a paying channel gets for each reason a card may not pay now.
PAYMENT_ERRORS: dict[str, type[ActivationError]] = {
    "CARD_REPORTED_LOST": CardReportedLostError,
    "CARD_REPLACED": CardReplacedError,
    "CARD_CANCELLED": CardCancelledError,
    "CARD_SEALED": CardSealedError,
    "CARD_NOT_DELIVERED": CardNotDeliveredError,
    "CARD_NOT_ACTIVE": CardNotActiveError,
    "E_CARD_SUSPENDED": ECardSuspendedError,
    "E_CARD_NOT_ACTIVE": ECardNotActiveError,
}

#: The refusal of a payment code that cannot be redeemed.
CODE_ERRORS: dict[str, type[ActivationError]] = {
    "PAYMENT_CODE_INVALID": PaymentCodeInvalidError,
}


class SmsCodeRequiredError(ActivationError):
    code = "SMS_CODE_REQUIRED"
    default_message = "Online recovery needs the one-time code sent by SMS to the holder."


class SmsCodeWrongError(ActivationError):
    code = "SMS_CODE_WRONG"
    default_message = "The SMS code is not right."


class SmsCodeExpiredError(ActivationError):
    code = "SMS_CODE_EXPIRED"
    default_message = "The SMS code has expired; ask for a new one."


class SmsCodeUsedError(ActivationError):
    code = "SMS_CODE_USED"
    default_message = "The SMS code was used already; ask for a new one."


class SmsCodeLockedError(ActivationError):
    code = "SMS_CODE_LOCKED"
    default_message = "Too many wrong tries for this SMS code; ask for a new one."


class SmsCodeTooSoonError(ActivationError):
    code = "SMS_CODE_TOO_SOON"
    default_message = "A code was sent less than a minute ago; wait before asking again."
