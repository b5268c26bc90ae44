"""Every message renders in both languages from what its event carries, without personal data."""

from __future__ import annotations

from typing import Any

import pytest

from services.notification.domain import render
from services.notification.templates import TEMPLATES
from shared.contracts import REGISTRY

SAMPLES: dict[str, dict[str, Any]] = {
    "SmsCodeIssued": {
        "code_id": "k1",
        "purpose": "password_recovery",
        "expires_at": "2026-11-23T08:05:00Z",
        "key_id": "m1",
        "sealed_code": "c2VhbGVk",
    },
    "IdentityVerificationFailed": {
        "reason": "NAME_MISMATCH",
        "channel": "online_hall",
        "face_attempt": False,
        "failed_at": "2026-11-23T08:00:00Z",
    },
    "FaceVerificationLocked": {"failures": 5, "locked_until": "2026-11-23T09:00:00Z"},
    "CardApplied": {
        "card_id": "c1",
        "region": "410105",
        "channel": "online_hall",
        "kind": "online",
        "delivery": "mail",
        "fee_fen": 0,
        "photo_ref": "photo-1",
        "id_checked": False,
    },
    "CardProductionFailed": {"card_id": "c1", "reason": "PHOTO_UNUSABLE", "agency": "agency"},
    "CardMailed": {"card_id": "c1", "courier": "EMS", "tracking_number": "EMS123"},
    "CardReadyForPickup": {"card_id": "c1", "branch": "Jinshui branch"},
    "CardActivated": {
        "card_id": "c1",
        "channel": "pharmacy",
        "operator": "dev-pharmacy",
        "card_kind": "physical",
        "effective_at": None,
    },
    "ECardClaimed": {"card_id": "c1", "region": "410105", "channel": "wechat", "on_behalf": False},
    "CardReportedLost": {
        "card_id": "c1",
        "kind": "temporary",
        "channel": "window",
        "expires_at": "2026-11-30T08:00:00Z",
    },
    "CardReplaced": {"card_id": "c1", "new_card_id": "c2", "reason": "loss", "fee_fen": 2000},
    "FamilyMemberLinked": {
        "member_person_id": "p2",
        "relation": "parent",
        "consent": "member_face_check",
        "linked_at": "2026-11-23T08:00:00Z",
    },
    "PasswordChanged": {"card_id": "c1", "card_kind": "physical", "channel": "bank"},
    "PasswordLocked": {
        "card_id": "c1",
        "card_kind": "electronic",
        "failures": 6,
        "locked_until": "2026-11-24T09:00:00Z",
    },
    "PasswordReset": {"card_id": "c1", "card_kind": "electronic", "channel": "online_hall"},
}


def test_every_template_is_about_a_published_event() -> None:
    published = {event_type for event_type, _ in REGISTRY}
    assert set(TEMPLATES) <= published
    assert set(SAMPLES) == set(TEMPLATES)


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_the_samples_are_real_payloads_of_their_contract(event_type: str) -> None:
    REGISTRY[(event_type, 1)].model_validate(SAMPLES[event_type])


@pytest.mark.parametrize("event_type", sorted(TEMPLATES))
@pytest.mark.parametrize("language", ["zh-Hans", "en"])
def test_each_message_renders_in_both_languages(event_type: str, language: str) -> None:
    message = render(event_type, SAMPLES[event_type], language)
    assert message is not None
    assert message.language == language
    assert message.text.strip()
    if language == "en":
        assert message.text.isascii(), message.text
    else:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message.text), message.text


@pytest.mark.parametrize("language", ["zh-Hans", "en"])
def test_the_holder_is_addressed_by_the_tail_of_the_id_number_only(language: str) -> None:
    message = render("CardMailed", SAMPLES["CardMailed"], language, id_tail="123X")
    assert message is not None
    assert "123X" in message.text
    assert "4101" not in message.text  # never more of the ID number than its tail


def test_password_and_loss_messages_are_required_the_rest_optional() -> None:
    required = {name for name, t in TEMPLATES.items() if t.required}
    assert {"PasswordChanged", "PasswordLocked", "PasswordReset", "CardReportedLost"} <= required
    assert "CardMailed" not in required
    assert "CardApplied" not in required


def test_the_fee_is_shown_in_yuan() -> None:
    message = render("CardReplaced", SAMPLES["CardReplaced"], "en")
    assert message is not None
    assert "20.00 yuan" in message.text
