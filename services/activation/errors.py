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
    default_message = "The card has not been mailed or handed over yet, so it cannot be activated."


class CardNotHeldError(ActivationError):
    code = "CARD_NOT_HELD"
    default_message = "This card belongs to someone else."


class IdentityNotVerifiedError(ActivationError):
    code = "IDENTITY_NOT_VERIFIED"
    default_message = "Online activation needs the holder's real-name and face verification first."


class CardAlreadyActiveError(ActivationError):
    code = "CARD_ALREADY_ACTIVE"
    default_message = "The card is already activated."


class CardReportedLostError(ActivationError):
    code = "CARD_REPORTED_LOST"
    default_message = "The card is reported lost; unblock it (or use its replacement) first."


class CardNoLongerValidError(ActivationError):
    code = "CARD_NO_LONGER_VALID"
    default_message = (
        "The card is no longer valid (sealed, replaced, cancelled or never produced); "
        "apply for a new one."
    )
