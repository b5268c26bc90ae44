"""Identity's domain errors: each has a stable code and a message a clerk can read aloud."""

from shared.errors import DomainError


class IdentityError(DomainError):
    """Base of every refusal by the identity service."""

    code = "IDENTITY_ERROR"


class NameInvalidError(IdentityError):
    code = "NAME_INVALID"
    default_message = (
        "A name is written in Chinese characters (a middle dot · may join minority names) "
        "or in Latin letters."
    )


class FaceCheckError(IdentityError):
    """The face-check result cannot be accepted."""

    code = "FACE_CHECK_REFUSED"


class FaceProviderUnknownError(FaceCheckError):
    code = "FACE_PROVIDER_UNKNOWN"
    default_message = "The face check comes from a provider this platform does not accept."


class FaceSignatureInvalidError(FaceCheckError):
    code = "FACE_SIGNATURE_INVALID"
    default_message = "The face-check result's signature is not valid."


class FaceResultStaleError(FaceCheckError):
    code = "FACE_RESULT_STALE"
    default_message = "The face check is too old (or dated in the future); please do it again."


class FaceResultReplayedError(FaceCheckError):
    code = "FACE_RESULT_REPLAYED"
    default_message = "This face-check result was already used; please do the check again."


class FaceSubjectMismatchError(FaceCheckError):
    code = "FACE_SUBJECT_MISMATCH"
    default_message = "The face check was made for another ID number."


class PersonNotRegisteredError(IdentityError):
    code = "PERSON_NOT_REGISTERED"
    default_message = (
        "No insured person is registered with this ID number; please contact the social "
        "insurance agency of your region."
    )


class PersonAlreadyRegisteredError(IdentityError):
    code = "PERSON_ALREADY_REGISTERED"
    default_message = "This person is already registered with other details."


class NameMismatchError(IdentityError):
    code = "NAME_MISMATCH"
    default_message = "The name does not match the one registered for this ID number."


class PhoneInvalidError(IdentityError):
    code = "PHONE_INVALID"
    default_message = "A mobile number has 11 digits and starts with 13 to 19."


class RegionInvalidError(IdentityError):
    code = "REGION_INVALID"
    default_message = "The insured region must be a 6-digit code in a known province."


class GuardianRequiredError(IdentityError):
    code = "GUARDIAN_REQUIRED"
    default_message = "A person under 16 is registered with their guardian's ID number."


class GuardianInvalidError(IdentityError):
    code = "GUARDIAN_INVALID"
    default_message = "The guardian must be a registered adult other than the person."


class GuardianMustActError(IdentityError):
    code = "GUARDIAN_MUST_ACT"
    default_message = (
        "A person under 16 is verified through their guardian: send the guardian's name, "
        "ID number and face check."
    )


class FaceVerificationLockedError(IdentityError):
    code = "FACE_VERIFICATION_LOCKED"
    default_message = (
        "Face verification is locked after too many failed attempts; please try again later "
        "or visit a service window."
    )


class PersonalDataErasedError(IdentityError):
    code = "PERSONAL_DATA_ERASED"
    default_message = "This person's personal data was erased at their request."


class FaceLivenessFailedError(IdentityError):
    code = "FACE_LIVENESS_FAILED"
    default_message = "The liveness check failed; please try again in good light."


class FaceScoreTooLowError(IdentityError):
    code = "FACE_SCORE_TOO_LOW"
    default_message = "The face did not match the ID photo closely enough."


class PersonHoldsCardError(IdentityError):
    code = "PERSON_HOLDS_CARD"
    default_message = (
        "The person holds a social security card (or one is being issued); their personal "
        "data cannot be erased until it is cancelled."
    )


class HolderNotVerifiedError(IdentityError):
    code = "HOLDER_NOT_VERIFIED"
    default_message = "Linking family members needs the holder's own face verification first."


class FamilySelfLinkError(IdentityError):
    code = "FAMILY_SELF_LINK"
    default_message = "A person cannot be linked as their own family member."


class FamilyLimitReachedError(IdentityError):
    code = "FAMILY_LIMIT_REACHED"
    default_message = "The holder already has the most family members the region allows."


class FamilyConsentRequiredError(IdentityError):
    code = "FAMILY_CONSENT_REQUIRED"
    default_message = (
        "An adult family member consents with their own face check; a child under 16 is "
        "linked by their registered guardian."
    )


class FamilyLinkNotFoundError(IdentityError):
    code = "FAMILY_LINK_NOT_FOUND"
    default_message = "This person is not linked as a family member of the holder."


#: The refusal a channel gets for each recorded failure.
FAILURE_ERRORS: dict[str, type[IdentityError]] = {
    "NAME_MISMATCH": NameMismatchError,
    "FACE_LIVENESS_FAILED": FaceLivenessFailedError,
    "FACE_SCORE_TOO_LOW": FaceScoreTooLowError,
}
