"""Every message renders in both languages from what its event carries, without personal data."""

from __future__ import annotations

from typing import Any

import pytest

from services.notification.domain import render
from services.notification.templates import TEMPLATES
from shared.contracts import REGISTRY

SAMPLES: dict[str, dict[str, Any]] = {
    "IdentityVerificationFailed": {"reason": "NAME_MISMATCH", "channel": "online_hall"},
    "FaceVerificationLocked": {"failures": 5, "locked_until": "2026-11-23T09:00:00Z"},
    "CardApplied": {"card_id": "c1", "region": "410105"},
    "CardProductionFailed": {"card_id": "c1", "reason": "PHOTO_UNUSABLE"},
    "CardMailed": {"card_id": "c1", "courier": "EMS", "tracking_number": "EMS123"},
    "CardReadyForPickup": {"card_id": "c1", "branch": "Jinshui branch"},
    "CardActivated": {"card_id": "c1", "channel": "pharmacy"},
    "ECardClaimed": {"card_id": "c1", "region": "410105"},
    "CardReportedLost": {"card_id": "c1", "kind": "temporary"},
    "CardReplaced": {"card_id": "c1", "reason": "loss", "fee_fen": 2000},
    "FamilyMemberLinked": {"member_person_id": "p2", "relation": "parent"},
}


def test_every_template_is_about_a_published_event() -> None:
    published = {event_type for event_type, _ in REGISTRY}
    assert set(TEMPLATES) <= published
    assert set(SAMPLES) == set(TEMPLATES)


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


def test_the_fee_is_shown_in_yuan() -> None:
    message = render("CardReplaced", SAMPLES["CardReplaced"], "en")
    assert message is not None
    assert "20.00 yuan" in message.text
