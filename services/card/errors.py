"""The card service's domain errors."""

from shared.errors import DomainError


class CardError(DomainError):
    """Base of every refusal by the card service."""

    code = "CARD_ERROR"


class IdentityNotVerifiedError(CardError):
    code = "IDENTITY_NOT_VERIFIED"
    default_message = (
        "The applicant has not passed identity verification (online applications need "
        "real-name and face verification)."
    )


class RegionInvalidError(CardError):
    code = "REGION_INVALID"
    default_message = "The insured region must be a 6-digit code in a known province."


class CardAlreadyHeldError(CardError):
    code = "CARD_ALREADY_HELD"
    default_message = (
        "The person already holds or is being issued a valid card in this province; "
        "apply for a replacement instead."
    )


class CardNotFoundError(CardError):
    code = "CARD_NOT_FOUND"
    default_message = "No card with this id."


class CardStatusError(CardError):
    code = "CARD_STATUS_CONFLICT"
    default_message = "The card is not in a state that allows this."
