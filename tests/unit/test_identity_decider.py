"""The identity decider: given events, when a command, then events or a refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given as given_
from hypothesis import strategies as st

from services.identity import domain as identity
from services.identity.errors import (
    FaceVerificationLockedError,
    FamilyLimitReachedError,
    FamilyLinkNotFoundError,
    GuardianInvalidError,
    GuardianMustActError,
    HolderNotVerifiedError,
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
    GuardianConsentRecorded,
    IdentityVerificationFailed,
    IdentityVerified,
    PersonalDataErased,
    PersonRegistered,
)
from tests.unit.samples import NOW, given

REGISTERED = PersonRegistered(
    id_number_hash="ab" * 32,
    masked_id_number="1101**********002X",
    masked_phone=None,
    region="110105",
    sex="female",
    guardian_person_id=None,
    name_ciphertext="x",
    id_number_ciphertext="x",
    birth_date_ciphertext="x",
    phone_ciphertext=None,
)
POLICY = identity.LockPolicy(failures=5, window=timedelta(hours=24), lock_for=timedelta(hours=24))


def verify(
    face: str | None = "dev-face",
    *,
    failure: FailureReason | None = None,
    name_matches: bool = True,
    at: datetime = NOW,
) -> identity.VerifyIdentity:
    return identity.VerifyIdentity(
        channel="online_hall",
        masked_id_number="1101**********002X",
        id_number_hash="ab" * 32,
        name_matches=name_matches,
        face=identity.FaceOutcome(face, failure) if face else None,
        policy=POLICY,
        at=at,
    )


def fail_face(
    at: datetime, reason: FailureReason = "FACE_SCORE_TOO_LOW"
) -> identity.VerifyIdentity:
    return verify(failure=reason, at=at)


def registered(*events: EventPayload) -> identity.Person:
    return given(identity.evolve, identity.Person(), REGISTERED, *events)


def test_a_person_is_registered_once() -> None:
    assert identity.decide(identity.Person(), identity.RegisterPerson(REGISTERED)) == [REGISTERED]
    with pytest.raises(PersonAlreadyRegisteredError):
        identity.decide(registered(), identity.RegisterPerson(REGISTERED))


def test_only_registered_persons_are_verified() -> None:
    with pytest.raises(PersonNotRegisteredError):
        identity.decide(identity.Person(), verify())


def test_a_face_check_reaches_real_person_level() -> None:
    [event] = identity.decide(registered(), verify())
    assert isinstance(event, IdentityVerified)
    assert (event.level, event.masked_id_number) == ("real_person", "1101**********002X")


def test_without_face_check_only_real_name() -> None:
    [event] = identity.decide(registered(), verify(None))
    assert isinstance(event, IdentityVerified)
    assert event.level == "real_name"


def test_a_wrong_name_is_recorded_but_does_not_count_toward_the_face_lock() -> None:
    [event] = identity.decide(registered(), verify(name_matches=False))
    assert isinstance(event, IdentityVerificationFailed)
    assert (event.reason, event.face_attempt) == ("NAME_MISMATCH", False)


def test_the_fifth_failed_face_check_in_a_day_locks_for_a_day() -> None:
    state = registered()
    for n in range(4):
        events = identity.decide(
            state, verify(failure="FACE_SCORE_TOO_LOW", at=NOW + timedelta(hours=n))
        )
        assert [type(e) for e in events] == [IdentityVerificationFailed]
        state = given(identity.evolve, state, *events)
    fifth = NOW + timedelta(hours=5)
    events = identity.decide(state, fail_face(fifth, "FACE_LIVENESS_FAILED"))
    assert [type(e) for e in events] == [IdentityVerificationFailed, FaceVerificationLocked]
    assert events[1] == FaceVerificationLocked(failures=5, locked_until=fifth + timedelta(hours=24))
    state = given(identity.evolve, state, *events)
    with pytest.raises(FaceVerificationLockedError):
        identity.decide(state, verify(at=fifth + timedelta(hours=23)))
    assert identity.decide(state, verify(None, at=fifth + timedelta(hours=1))), (
        "real-name still works"
    )
    [passed] = identity.decide(state, verify(at=fifth + timedelta(hours=24)))
    assert isinstance(passed, IdentityVerified)


def test_old_failures_fall_out_of_the_window() -> None:
    state = registered()
    for n in range(4):
        state = given(
            identity.evolve,
            state,
            *identity.decide(
                state, verify(failure="FACE_SCORE_TOO_LOW", at=NOW + timedelta(hours=n))
            ),
        )
    later = NOW + timedelta(hours=30)
    assert [
        type(e) for e in identity.decide(state, verify(failure="FACE_SCORE_TOO_LOW", at=later))
    ] == [IdentityVerificationFailed]


@given_(st.lists(st.tuples(st.integers(0, 40 * 60), st.booleans()), max_size=40))
def test_no_face_check_is_accepted_while_locked(attempts: list[tuple[int, bool]]) -> None:
    state = registered()
    moment = NOW
    for minutes, passes in attempts:
        moment += timedelta(minutes=minutes)
        command = verify(failure=None if passes else "FACE_SCORE_TOO_LOW", at=moment)
        locked = state.locked_at(moment)
        try:
            events = identity.decide(state, command)
        except FaceVerificationLockedError:
            assert locked
            continue
        assert not locked
        recent = [t for t in state.face_failures if moment - t < POLICY.window]
        assert len(recent) < POLICY.failures, "a lock is never skipped"
        state = given(identity.evolve, state, *events)


def test_names_are_normalised_and_minority_names_accepted() -> None:
    assert identity.normalize_name("阿依古丽•买买提") == "阿依古丽·买买提"
    assert identity.normalize_name("ＺＨＡＮＧ Ｓａｎ") == "ZHANG San"
    with pytest.raises(identity.NameInvalidError):
        identity.normalize_name("R2-D2")


def link(member: str, limit: int = 8) -> identity.LinkFamilyMember:
    return identity.LinkFamilyMember(member, "parent", "member_face_check", limit, NOW)


def verified_holder() -> identity.Person:
    return registered(*identity.decide(registered(), verify()))


def test_a_verified_holder_links_family_members_up_to_the_limit() -> None:
    state = verified_holder()
    for n in range(3):
        [event] = identity.decide(state, link(f"m{n}", limit=3))
        assert isinstance(event, FamilyMemberLinked)
        state = given(identity.evolve, state, event)
    with pytest.raises(FamilyLimitReachedError):
        identity.decide(state, link("m3", limit=3))
    assert identity.decide(state, link("m1", limit=3)) == [], "linking again changes nothing"


def test_only_a_face_verified_holder_links() -> None:
    with pytest.raises(HolderNotVerifiedError):
        identity.decide(registered(), link("m0"))


def test_unlinking_one_member_keeps_the_others() -> None:
    state = verified_holder()
    for member in ("m0", "m1"):
        state = given(identity.evolve, state, *identity.decide(state, link(member)))
    unlink = identity.UnlinkFamilyMember("m0", "member", NOW)
    state = given(identity.evolve, state, *identity.decide(state, unlink))
    assert state.family == ("m1",)
    with pytest.raises(FamilyLinkNotFoundError):
        identity.decide(state, unlink)


def test_erasure_is_refused_while_a_card_is_held_and_happens_once() -> None:
    erase = identity.ErasePersonalData(holds_card=True, requested_by="op", at=NOW)
    with pytest.raises(PersonHoldsCardError):
        identity.decide(registered(), erase)
    [erased] = identity.decide(registered(), replace(erase, holds_card=False))
    assert isinstance(erased, PersonalDataErased)
    assert identity.decide(registered(erased), replace(erase, holds_card=False)) == []
    with pytest.raises(PersonalDataErasedError):
        identity.decide(registered(erased), verify())


def child_verification(
    age: int, acting: str | None, registered: str = "g1"
) -> identity.VerifyIdentity:
    return replace(verify(), age=age, acting_guardian=acting, registered_guardian=registered)


def test_a_child_is_verified_only_through_their_registered_guardian() -> None:
    with pytest.raises(GuardianMustActError):
        identity.decide(registered(), child_verification(10, None))
    with pytest.raises(GuardianInvalidError):
        identity.decide(registered(), child_verification(10, "stranger"))


def test_under_14_the_guardians_consent_is_recorded_once() -> None:
    events = identity.decide(registered(), child_verification(10, "g1"))
    assert [type(e) for e in events] == [GuardianConsentRecorded, IdentityVerified]
    again = identity.decide(registered(*events), child_verification(10, "g1"))
    assert [type(e) for e in again] == [IdentityVerified]
    teen = identity.decide(registered(), child_verification(15, "g1"))
    assert [type(e) for e in teen] == [IdentityVerified]
