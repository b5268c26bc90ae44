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


class CardNoLongerValidError(CardError):
    code = "CARD_NO_LONGER_VALID"
    default_message = (
        "This card is no longer valid (production failed, sealed, replaced, cancelled or "
        "formally reported lost)."
    )


class CardReportedLostError(CardError):
    code = "CARD_REPORTED_LOST"
    default_message = "The card is reported lost."


class ResolveTemporaryLossFirstError(CardError):
    code = "RESOLVE_TEMPORARY_LOSS_FIRST"
    default_message = (
        "The card is temporarily reported lost: unblock it, or report it lost formally, "
        "before applying for a replacement."
    )


class NoUsableCardError(CardError):
    code = "NO_USABLE_CARD"
    default_message = (
        "The electronic card needs a valid physical card that has been produced and is not "
        "reported lost."
    )


class ECardAlreadyClaimedError(CardError):
    code = "E_CARD_ALREADY_CLAIMED"
    default_message = "The electronic card was already claimed."


class ECardNotClaimedError(CardError):
    code = "E_CARD_NOT_CLAIMED"
    default_message = "No electronic card has been claimed yet."


class ChannelNotBoundError(CardError):
    code = "CHANNEL_NOT_BOUND"
    default_message = "The electronic card is not bound to this channel."


class FamilyLinkRequiredError(CardError):
    code = "FAMILY_LINK_REQUIRED"
    default_message = "Only the holder, or a family member they linked, may do this."


class PhotoRequiredError(CardError):
    code = "PHOTO_REQUIRED"
    default_message = "A recent bareheaded photo is needed (children under 7 need none)."


class IdCheckRequiredError(CardError):
    code = "ID_CHECK_REQUIRED"
    default_message = "At the window the clerk checks the original ID card before applying."
