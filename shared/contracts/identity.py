"""Events published by the identity service on ``identity.events``."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload
from shared.topics import Producer

VerificationLevel = Literal["real_name", "real_person"]


class IdentityVerified(EventPayload):
    """A person passed real-name (and, at level real_person, face) verification on a channel."""

    event_type: ClassVar[str] = "IdentityVerified"
    producer: ClassVar[Producer] = "identity"

    level: VerificationLevel = Field(
        description="Level reached: real_name (name + ID number) or real_person (also face)."
    )
    channel: str = Field(description="Channel the verification came through, e.g. online_hall.")
    masked_id_number: str = Field(
        description="ID number with all but the first 4 and last 4 characters masked."
    )
    id_number_hash: str = Field(description="Keyed hash (HMAC-SHA256, hex) of the ID number.")
    face_provider: str | None = Field(
        description="Certified provider whose signed face-check result was accepted, if any."
    )
    verified_at: datetime = Field(description="When the verification was accepted (UTC).")


class PersonRegistered(EventPayload):
    """The social insurance agency registered an insured person.

    Personal data travels only encrypted under the person's own key (AES-256-GCM, base64 of
    nonce + ciphertext): erasing the key makes it unreadable everywhere (crypto-shredding).
    """

    event_type: ClassVar[str] = "PersonRegistered"
    producer: ClassVar[Producer] = "identity"

    id_number_hash: str = Field(description="Keyed hash (HMAC-SHA256, hex) of the ID number.")
    masked_id_number: str = Field(description="ID number with all but 4+4 characters masked.")
    masked_phone: str | None = Field(description="Mobile number with the middle 4 masked.")
    region: str = Field(description="Insured region (6-digit code).")
    sex: Literal["male", "female"] = Field(description="Sex, from the ID number.")
    guardian_person_id: str | None = Field(
        description="Person id of the guardian, for a person under 16 at registration."
    )
    name_ciphertext: str = Field(description="The name, encrypted under the person's key.")
    id_number_ciphertext: str = Field(description="The ID number, encrypted likewise.")
    birth_date_ciphertext: str = Field(description="The birth date (ISO), encrypted likewise.")
    phone_ciphertext: str | None = Field(description="The mobile number, encrypted likewise.")


FailureReason = Literal["NAME_MISMATCH", "FACE_LIVENESS_FAILED", "FACE_SCORE_TOO_LOW"]


class PersonFactsIssued(EventPayload):
    """Facts the card and activation services need, without the personal data behind them:
    keyed hashes of the ID number's 6-digit runs (a password may be none of them) and the day
    the person turns 7 (no card photo before it), sealed. Issued under the shared facts key
    ``key_id`` before the person's first verification under that key."""

    event_type: ClassVar[str] = "PersonFactsIssued"
    producer: ClassVar[Producer] = "identity"

    key_id: str = Field(description="Id of the shared facts key the facts are issued under.")
    password_windows: list[str] = Field(
        description="HMAC-SHA256 (hex, 128 bits, sorted) of each 6-digit run of the ID number, "
        "bound to the person: a password matching one is refused."
    )
    photo_exempt_until: str = Field(
        description="The day the person turns 7, sealed (AES-256-GCM, base64) for the card service."
    )
    issued_at: datetime = Field(description="When the facts were issued (UTC).")


class IdentityVerificationFailed(EventPayload):
    """A verification attempt for a registered person failed."""

    event_type: ClassVar[str] = "IdentityVerificationFailed"
    producer: ClassVar[Producer] = "identity"

    reason: FailureReason = Field(description="Stable reason code of the failure.")
    channel: str = Field(description="Channel the attempt came through.")
    face_attempt: bool = Field(description="Whether the attempt counts toward the face lock.")
    failed_at: datetime = Field(description="When the attempt failed (UTC).")


class FaceVerificationLocked(EventPayload):
    """Too many failed face checks: face verification is locked for a while."""

    event_type: ClassVar[str] = "FaceVerificationLocked"
    producer: ClassVar[Producer] = "identity"

    failures: int = Field(description="Failed face checks within the window that locked it.")
    locked_until: datetime = Field(description="When face verification opens again (UTC).")


class PersonalDataErased(EventPayload):
    """The person's key was destroyed: their personal data is unreadable everywhere."""

    event_type: ClassVar[str] = "PersonalDataErased"
    producer: ClassVar[Producer] = "identity"

    requested_by: str = Field(description="Credential name of the operator who erased it.")
    erased_at: datetime = Field(description="When the key was destroyed (UTC).")


Relation = Literal["spouse", "parent", "child", "sibling", "grandparent", "grandchild", "other"]


class FamilyMemberLinked(EventPayload):
    """A holder linked a family member who may act for them (亲情服务); the holder is the
    envelope's person_id."""

    event_type: ClassVar[str] = "FamilyMemberLinked"
    producer: ClassVar[Producer] = "identity"

    member_person_id: str = Field(description="Person id of the family member.")
    relation: Relation = Field(description="What the member is to the holder.")
    consent: Literal["member_face_check", "guardian"] = Field(
        description="How the member consented: their own face check, or (under 16) the "
        "holder is their registered guardian."
    )
    linked_at: datetime = Field(description="When the link was made (UTC).")


class FamilyMemberUnlinked(EventPayload):
    """A family link was removed by the holder or by the member."""

    event_type: ClassVar[str] = "FamilyMemberUnlinked"
    producer: ClassVar[Producer] = "identity"

    member_person_id: str = Field(description="Person id of the former family member.")
    unlinked_by: Literal["holder", "member"] = Field(description="Who removed the link.")
    unlinked_at: datetime = Field(description="When the link was removed (UTC).")


class GuardianConsentRecorded(EventPayload):
    """A guardian consented, in person and face-verified, to the processing of the personal
    data of their child under 14 (PIPL art. 31); the child is the envelope's person_id."""

    event_type: ClassVar[str] = "GuardianConsentRecorded"
    producer: ClassVar[Producer] = "identity"

    guardian_person_id: str = Field(description="Person id of the consenting guardian.")
    recorded_at: datetime = Field(description="When the consent was given (UTC).")
