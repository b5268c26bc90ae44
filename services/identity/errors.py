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


class FaceLivenessFailedError(FaceCheckError):
    code = "FACE_LIVENESS_FAILED"
    default_message = "The liveness check failed; please try again in good light."


class FaceScoreTooLowError(FaceCheckError):
    code = "FACE_SCORE_TOO_LOW"
    default_message = "The face did not match the ID photo closely enough."
