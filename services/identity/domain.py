"""Identity's pure domain: names, the person's verification state, decide and evolve."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from services.identity.errors import (
    FaceVerificationLockedError,
    FamilyLimitReachedError,
    FamilyLinkNotFoundError,
    GuardianInvalidError,
    GuardianMustActError,
    HolderNotVerifiedError,
    NameInvalidError,
    PersonalDataErasedError,
    PersonAlreadyRegisteredError,
    PersonHoldsCardError,
    PersonNotRegisteredError,
)
from shared.contracts import EventPayload
from shared.contracts.identity import (
    FaceVerificationLocked,
    FailureReason,
    FamilyMemberLinked,
    FamilyMemberUnlinked,
    GuardianConsentRecorded,
    IdentityVerificationFailed,
    IdentityVerified,
    PersonalDataErased,
    PersonFactsIssued,
    PersonRegistered,
    Relation,
    VerificationLevel,
)
from shared.decider import Decider

# Chinese names (with the middle dot of minority names), or Latin-script foreign names.
_CHINESE_NAME = re.compile(
    r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+(·[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+)*$"
)
_LATIN_NAME = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ]+([ '\-.][A-Za-zÀ-ÖØ-öø-ÿ]+)*\.?$")
#: Under 16 a guardian acts for the person; under 14 the guardian's consent is recorded.
GUARDIAN_AGE = 16
CONSENT_AGE = 14
_DOTS = str.maketrans({"•": "·", "・": "·", "‧": "·", "∙": "·", "．": "·"})


def normalize_name(raw: str) -> str:
    """NFKC-normalised name with one kind of middle dot; NameInvalidError if not a name."""
    name = unicodedata.normalize("NFKC", raw).strip()
    name = re.sub(r"\s+", " ", name)
    chinese = name.translate(_DOTS)
    if 2 <= len(chinese) <= 40 and _CHINESE_NAME.match(chinese):
        return chinese
    if 2 <= len(name) <= 80 and _LATIN_NAME.match(name):
        return name
    raise NameInvalidError()


@dataclass(frozen=True)
class LockPolicy:
    """How many failed face checks within a window lock face verification, and for how long
    (per region; default 5 in 24 h lock for 24 h)."""

    failures: int = 5
    window: timedelta = timedelta(hours=24)
    lock_for: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class FaceOutcome:
    """What an authentic face-check result says: the provider, and why it failed if it did."""

    provider: str
    failure: FailureReason | None


@dataclass(frozen=True)
class RegisterPerson:
    """The agency registers a person (the event is prepared with the person's key)."""

    event: PersonRegistered


@dataclass(frozen=True)
class VerifyIdentity:
    """A channel asks to verify a registered person."""

    channel: str
    masked_id_number: str
    id_number_hash: str
    name_matches: bool
    face: FaceOutcome | None
    policy: LockPolicy
    at: datetime
    age: int = 30
    #: For a person under 16: the registered guardian, and who acted (already verified).
    registered_guardian: str | None = None
    acting_guardian: str | None = None
    #: The facts card and activation need, issued before the first verification under a key.
    facts: PersonFactsIssued | None = None


@dataclass(frozen=True)
class IssueFacts:
    """Issue a person's facts under the current key, if not yet (a backfill or a rotation)."""

    event: PersonFactsIssued


@dataclass(frozen=True)
class ErasePersonalData:
    """The person asked for their personal data to be erased (PIPL art. 47)."""

    holds_card: bool
    requested_by: str
    at: datetime


@dataclass(frozen=True)
class LinkFamilyMember:
    """A holder links a family member who consented (face check) or whose guardian they are."""

    member_person_id: str
    relation: Relation
    consent: Literal["member_face_check", "guardian"]
    limit: int
    at: datetime


@dataclass(frozen=True)
class UnlinkFamilyMember:
    """The holder or the member removes a link."""

    member_person_id: str
    by: Literal["holder", "member"]
    at: datetime


Command = (
    RegisterPerson
    | VerifyIdentity
    | IssueFacts
    | ErasePersonalData
    | LinkFamilyMember
    | UnlinkFamilyMember
)


@dataclass(frozen=True)
class Person:
    """What the identity stream of one person says."""

    registered: bool = False
    region: str | None = None
    level: VerificationLevel | None = None
    verifications: int = 0
    face_failures: tuple[datetime, ...] = ()
    locked_until: datetime | None = None
    erased: bool = False
    family: tuple[str, ...] = ()
    guardian_consent: str | None = None
    facts_key: str | None = None

    def locked_at(self, moment: datetime) -> bool:
        """Whether face verification is locked at ``moment``."""
        return self.locked_until is not None and moment < self.locked_until


def decide(state: Person, command: Command) -> list[EventPayload]:
    """The events a command causes, or an IdentityError saying why it is refused."""
    match command:
        case RegisterPerson():
            if state.registered:
                raise PersonAlreadyRegisteredError()
            return [command.event]
        case VerifyIdentity():
            return _verify(state, command)
        case IssueFacts():
            if not state.registered or state.erased or state.facts_key == command.event.key_id:
                return []
            return [command.event]
        case LinkFamilyMember():
            return _link(state, command)
        case UnlinkFamilyMember():
            if command.member_person_id not in state.family:
                raise FamilyLinkNotFoundError()
            return [
                FamilyMemberUnlinked(
                    member_person_id=command.member_person_id,
                    unlinked_by=command.by,
                    unlinked_at=command.at,
                )
            ]
        case ErasePersonalData():
            if not state.registered:
                raise PersonNotRegisteredError()
            if state.erased:
                return []  # already erased: asking again changes nothing
            if command.holds_card:
                raise PersonHoldsCardError()
            return [PersonalDataErased(requested_by=command.requested_by, erased_at=command.at)]


def _link(state: Person, command: LinkFamilyMember) -> list[EventPayload]:
    if not state.registered:
        raise PersonNotRegisteredError()
    if state.level != "real_person":
        raise HolderNotVerifiedError()
    if command.member_person_id in state.family:
        return []  # already linked: asking again changes nothing
    if len(state.family) >= command.limit:
        raise FamilyLimitReachedError()
    return [
        FamilyMemberLinked(
            member_person_id=command.member_person_id,
            relation=command.relation,
            consent=command.consent,
            linked_at=command.at,
        )
    ]


def _verify(state: Person, command: VerifyIdentity) -> list[EventPayload]:
    if not state.registered:
        raise PersonNotRegisteredError()
    if state.erased:
        raise PersonalDataErasedError()
    if command.age < GUARDIAN_AGE:
        if command.acting_guardian is None:
            raise GuardianMustActError()
        if command.acting_guardian != command.registered_guardian:
            raise GuardianInvalidError("Only the registered guardian may act for this child.")
    elif command.face is not None and state.locked_at(command.at):
        raise FaceVerificationLockedError()
    if not command.name_matches:
        return [_failed(command, "NAME_MISMATCH", face_attempt=False)]
    if command.face is not None and command.face.failure is not None:
        return _face_failed(state, command, command.face.failure)
    consent: list[EventPayload] = []
    if command.age < CONSENT_AGE and state.guardian_consent != command.acting_guardian:
        # PIPL art. 31: processing a child's data under 14 needs the guardian's consent,
        # given here in person by the face-verified guardian.
        assert command.acting_guardian is not None
        consent.append(
            GuardianConsentRecorded(
                guardian_person_id=command.acting_guardian, recorded_at=command.at
            )
        )
    facts = command.facts
    issued = [facts] if facts is not None and facts.key_id != state.facts_key else []
    return [
        *issued,
        *consent,
        IdentityVerified(
            level="real_person" if command.face else "real_name",
            channel=command.channel,
            masked_id_number=command.masked_id_number,
            id_number_hash=command.id_number_hash,
            face_provider=command.face.provider if command.face else None,
            verified_at=command.at,
        ),
    ]


def _failed(
    command: VerifyIdentity, reason: FailureReason, *, face_attempt: bool
) -> IdentityVerificationFailed:
    return IdentityVerificationFailed(
        reason=reason, channel=command.channel, face_attempt=face_attempt, failed_at=command.at
    )


def _face_failed(
    state: Person, command: VerifyIdentity, reason: FailureReason
) -> list[EventPayload]:
    policy = command.policy
    recent = [t for t in state.face_failures if command.at - t < policy.window]
    events: list[EventPayload] = [_failed(command, reason, face_attempt=True)]
    if len(recent) + 1 >= policy.failures:
        events.append(
            FaceVerificationLocked(
                failures=len(recent) + 1, locked_until=command.at + policy.lock_for
            )
        )
    return events


def evolve(state: Person, event: EventPayload) -> Person:
    """Apply one of the person's own events."""
    match event:
        case PersonRegistered():
            return replace(state, registered=True, region=event.region)
        case IdentityVerified(level=level):
            best: VerificationLevel = (
                "real_person" if "real_person" in (state.level, level) else "real_name"
            )
            # A passed face check clears the count of failed ones.
            failures = () if level == "real_person" else state.face_failures
            return replace(
                state, level=best, verifications=state.verifications + 1, face_failures=failures
            )
        case IdentityVerificationFailed(face_attempt=True):
            return replace(state, face_failures=(*state.face_failures, event.failed_at))
        case FaceVerificationLocked():
            return replace(state, locked_until=event.locked_until, face_failures=())
        case PersonalDataErased():
            return replace(state, erased=True)
        case GuardianConsentRecorded():
            return replace(state, guardian_consent=event.guardian_person_id)
        case PersonFactsIssued():
            return replace(state, facts_key=event.key_id)
        case FamilyMemberLinked():
            return replace(state, family=(*state.family, event.member_person_id))
        case FamilyMemberUnlinked():
            family = tuple(m for m in state.family if m != event.member_person_id)
            return replace(state, family=family)
        case _:
            return state


#: A person: registration, verification, family, erasure; streams ``person-<person id>``.
PERSON: Decider[Person, Command] = Decider("person", Person(), evolve, decide)
