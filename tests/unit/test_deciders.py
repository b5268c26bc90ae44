"""Each decider: given events, when a command, then events (or a refusal)."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given as given_
from hypothesis import strategies as st

from services.activation import domain as activation
from services.activation.errors import CardNotFoundError, CardNotHeldError
from services.card import domain as card
from services.card import rules as card_rules
from services.card.errors import (
    CardAlreadyHeldError,
    CardStatusError,
    IdCheckRequiredError,
    NoUsableCardError,
    PhotoRequiredError,
)
from services.card.errors import IdentityNotVerifiedError as CardIdentityNotVerifiedError
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
from services.notification import domain as notification
from shared.contracts import (
    ActivationRefused,
    CardActivated,
    CardApplied,
    CardDelivered,
    CardMailed,
    CardPasswordLockNoted,
    CardProduced,
    ECardClaimed,
    ECardResumed,
    ECardSuspended,
    EventPayload,
    FaceVerificationLocked,
    FamilyMemberLinked,
    FinancialFunctionActivated,
    GuardianConsentRecorded,
    IdentityVerificationFailed,
    IdentityVerified,
    MedicalAccountEnabled,
    MedicalAccountMoved,
    NotificationSent,
    PersonalDataErased,
    PersonRegistered,
)
from shared.contracts.card import ApplicationKind
from shared.contracts.identity import FailureReason
from shared.verified import VerificationLevel

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def given(evolve, initial, *events: EventPayload):  # type: ignore[no-untyped-def]
    return functools.reduce(evolve, events, initial)


# identity ---------------------------------------------------------------------------------
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


# card -------------------------------------------------------------------------------------
APPLIED = CardApplied(
    card_id="c1", region="410105", channel="online_hall", kind="online", delivery="mail", fee_fen=0
)
PRODUCED = CardProduced(card_id="c1", card_number="S1", chip_serial="AB", agency="agency")
MAILED = CardMailed(card_id="c1", courier="EMS", tracking_number="EMS1")


def apply(
    level: VerificationLevel | None, kind: ApplicationKind = "online"
) -> card_rules.ApplyForCard:
    return card_rules.ApplyForCard(
        "c2", "410105", "online_hall", kind, "mail", level, "photo-1", id_checked=True
    )


def test_a_verified_person_applies_for_a_first_card_free() -> None:
    [event] = card_rules.decide(card.Holder(), apply("real_person"))
    assert isinstance(event, CardApplied)
    assert event.fee_fen == 0


def test_online_application_needs_face_verification() -> None:
    with pytest.raises(CardIdentityNotVerifiedError):
        card_rules.decide(card.Holder(), apply("real_name"))
    assert card_rules.decide(card.Holder(), apply("real_name", kind="window"))


def test_one_valid_card_per_person_per_province() -> None:
    with pytest.raises(CardAlreadyHeldError):
        card_rules.decide(given(card.evolve, card.Holder(), APPLIED), apply("real_person"))


def test_production_then_mailing() -> None:
    state = given(card.evolve, card.Holder(), APPLIED)
    assert card_rules.decide(state, card_rules.ReportProduced("c1", "S1", "AB", "agency")) == [
        PRODUCED
    ]
    state = given(card.evolve, state, PRODUCED)
    assert card_rules.decide(state, card_rules.ReportMailed("c1", "EMS", "EMS1")) == [MAILED]


def test_a_card_cannot_be_mailed_before_it_is_produced() -> None:
    with pytest.raises(CardStatusError):
        card_rules.decide(
            given(card.evolve, card.Holder(), APPLIED), card_rules.ReportMailed("c1", "EMS", "1")
        )


def test_a_card_cannot_be_produced_twice() -> None:
    state = given(card.evolve, card.Holder(), APPLIED, PRODUCED)
    with pytest.raises(CardStatusError):
        card_rules.decide(state, card_rules.ReportProduced("c1", "S1", "AB", "agency"))


# activation -------------------------------------------------------------------------------
def activate(
    status: str | None = "mailed",
    lost: str | None = None,
    holder: str = "p1",
    level: activation.VerificationLevel | None = "real_person",
    channel: activation.ActivationChannel = "online_hall",
    verified_ago: timedelta = timedelta(minutes=1),
    id_checked: bool = False,
    replaces: str | None = None,
    old_card: str | None = None,
) -> activation.ActivateCard:
    facts = activation.CardFacts(holder, status, lost, replaces) if status else None
    return activation.ActivateCard(
        card_id="c1",
        person_id="p1",
        channel=channel,
        operator="app",
        card=facts,
        holder=activation.Holder(level, NOW - verified_ago),
        at=NOW,
        max_verification_age=timedelta(minutes=5),
        id_checked=id_checked,
        presented_old_card=old_card,
    )


def test_a_mailed_card_is_activated_online_by_its_verified_holder() -> None:
    events = activation.decide(activation.Activation(), activate())
    assert events == [
        CardActivated(card_id="c1", channel="online_hall", operator="app"),
        MedicalAccountEnabled(card_id="c1"),
    ]


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (activate(status=None), CardNotFoundError),
        (activate(holder="someone-else"), CardNotHeldError),
    ],
)
def test_unknown_or_foreign_cards_are_refused(
    command: activation.ActivateCard, error: type[Exception]
) -> None:
    with pytest.raises(error):
        activation.decide(activation.Activation(), command)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (activate(status="produced"), "CARD_NOT_DELIVERED"),
        (activate(status="sealed"), "CARD_NO_LONGER_VALID"),
        (activate(lost="temporary"), "CARD_REPORTED_LOST"),
        (activate(level=None), "IDENTITY_NOT_VERIFIED"),
        (activate(level="real_name"), "IDENTITY_NOT_VERIFIED"),
        (activate(verified_ago=timedelta(minutes=6)), "VERIFICATION_TOO_OLD"),
        (activate(channel="window"), "ID_CHECK_REQUIRED"),
        (activate(channel="bank", level="real_name"), "ID_CHECK_REQUIRED"),
        (activate(channel="pharmacy", replaces="c0", old_card="cX"), "OLD_CARD_MISMATCH"),
    ],
)
def test_each_channel_refuses_by_its_rule(command: activation.ActivateCard, reason: str) -> None:
    [refused] = activation.decide(activation.Activation(), command)
    assert isinstance(refused, ActivationRefused)
    assert refused.reason == reason


@pytest.mark.parametrize(
    "command",
    [
        activate(channel="window", id_checked=True, level="real_name"),
        activate(channel="bank", id_checked=True, level="real_name"),
        activate(channel="hospital", level=None),
        activate(channel="pharmacy", level=None, replaces="c0", old_card="c0"),
    ],
)
def test_each_channel_activates_by_its_rule(command: activation.ActivateCard) -> None:
    events = activation.decide(activation.Activation(), command)
    assert isinstance(events[0], CardActivated)
    assert events[0].channel == command.channel


def test_a_replacement_inherits_the_account_once() -> None:
    events = activation.decide(activation.Activation(), activate(replaces="c0"))
    assert events[-1] == MedicalAccountMoved(from_card_id="c0", to_card_id="c1")
    state = given(activation.evolve, activation.Activation(), *events)
    assert activation.decide(state, activate(replaces="c0")) == [], "answered, not repeated"


# notification -----------------------------------------------------------------------------
def notify(about: EventPayload) -> notification.NotifyCitizen:
    message = notification.render(about.event_type, about.to_payload())
    assert message is not None
    return notification.NotifyCitizen("n1", "e1", about.event_type, message, "app_push")


def test_mailed_and_activated_cards_are_told_once() -> None:
    [sent] = notification.decide(notification.Notification(), notify(MAILED))
    assert isinstance(sent, NotificationSent)
    assert sent.template == "card_mailed"
    state = given(notification.evolve, notification.Notification(), sent)
    assert notification.decide(state, notify(MAILED)) == []


def test_messages_say_what_happened_without_personal_data() -> None:
    mailed = notification.render("CardMailed", MAILED.to_payload())
    bank = CardActivated(card_id="c1", channel="bank", operator="x").to_payload()
    activated = notification.render("CardActivated", bank)
    assert mailed is not None
    assert "EMS1" in mailed.text
    assert activated is not None
    assert "银行网点" in activated.text
    assert notification.render("CardProduced", PRODUCED.to_payload()) is None


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


def test_a_window_application_needs_the_id_checked_and_a_photo_unless_under_7() -> None:
    window = card_rules.ApplyForCard("c2", "410105", "window", "window", "pickup", "real_name")
    with pytest.raises(IdCheckRequiredError):
        card_rules.decide(card.Holder(), replace(window, photo_ref="p-1"))
    with pytest.raises(PhotoRequiredError):
        card_rules.decide(card.Holder(), replace(window, id_checked=True))
    [applied] = card_rules.decide(card.Holder(), replace(window, id_checked=True, under_7=True))
    assert isinstance(applied, CardApplied)
    assert (applied.photo_ref, applied.id_checked) == (None, True)


def test_production_starts_in_a_batch() -> None:
    state = given(card.evolve, card.Holder(), APPLIED)
    [started] = card_rules.decide(state, card_rules.StartProduction("c1", "b1", "agency"))
    state = given(card.evolve, state, started)
    assert state.cards["c1"].status == "in_production"
    with pytest.raises(CardStatusError):
        card_rules.decide(state, card_rules.StartProduction("c1", "b2", "agency"))
    assert card_rules.decide(state, card_rules.ReportProduced("c1", "S1", "AB", "agency"))


def test_the_ecard_stops_while_the_cards_password_is_locked() -> None:
    delivered = CardDelivered(card_id="c1", courier="courier")
    claimed = ECardClaimed(card_id="c1", region="410105", channel="app", on_behalf=False)
    state = given(card.evolve, card.Holder(), APPLIED, PRODUCED, MAILED, delivered, claimed)
    locked = card_rules.decide(state, card_rules.PasswordLockChanged("c1", locked=True))
    assert locked == [
        CardPasswordLockNoted(card_id="c1", locked=True),
        ECardSuspended(card_id="c1", reason="locked"),
    ]
    state = given(card.evolve, state, *locked)
    with pytest.raises(NoUsableCardError):
        card_rules.decide(
            replace(state, ecard=None), card_rules.ClaimECard("410105", "app", "real_person", False)
        )
    unlocked = card_rules.decide(state, card_rules.PasswordLockChanged("c1", locked=False))
    assert unlocked == [
        CardPasswordLockNoted(card_id="c1", locked=False),
        ECardResumed(card_id="c1"),
    ]


def test_the_bank_function_is_turned_on_once_with_the_id_checked() -> None:
    facts = activation.CardFacts("p1", "delivered")
    command = activation.ActivateFinancialFunction("c1", "p1", "bank", facts, id_checked=False)
    with pytest.raises(activation.IdCheckRequiredError):
        activation.decide_financial(activation.FinancialFunction(), command)
    checked = replace(command, id_checked=True)
    [event] = activation.decide_financial(activation.FinancialFunction(), checked)
    assert event == FinancialFunctionActivated(card_id="c1", bank="bank")
    state = activation.evolve_financial(activation.FinancialFunction(), event)
    assert activation.decide_financial(state, checked) == []


def test_an_ecard_works_after_its_regions_processing_delay() -> None:
    command = activation.ActivateECard(
        "p1",
        "c1",
        activation.Holder("real_person", NOW - timedelta(minutes=1)),
        NOW,
        timedelta(minutes=5),
        "app",
        processing_delay=timedelta(hours=2),
    )
    events = activation.decide_ecard(activation.Activation(), command)
    assert [e.event_type for e in events] == ["PasswordSet", "CardActivated"]
    state = given(activation.evolve, activation.Activation(), *events)
    assert not state.usable_at(NOW + timedelta(hours=1))
    assert state.usable_at(NOW + timedelta(hours=2))
    assert activation.decide_ecard(state, command) == []
