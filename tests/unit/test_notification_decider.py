"""The notification decider: each event told once per chosen channel, optional messages held
back by preferences and the rate limit, required ones always sent; outcomes recorded once."""

from __future__ import annotations

import pytest

from services.notification import domain as notification
from services.notification.errors import (
    ContactMissingError,
    NotFailedError,
    NotificationNotFoundError,
)
from services.notification.templates import CODE_PLACEHOLDER
from shared.contracts import EventPayload
from shared.contracts.activation import CardActivated, SmsCodeIssued
from shared.contracts.card import CardReportedLost
from shared.contracts.notification import (
    NotificationFailed,
    NotificationRetried,
    NotificationScheduled,
    NotificationSent,
    NotificationSuppressed,
)
from tests.unit.samples import MAILED, NOW, PRODUCED, given

LOST = CardReportedLost(card_id="c1", kind="formal", channel="window", expires_at=None)
BOTH = notification.Preferences(("app_push", "sms"), "en", optional_messages=True)
QUIET = notification.Preferences(("sms",), "zh-Hans", optional_messages=False)


def notify(
    about: EventPayload,
    preferences: notification.Preferences = BOTH,
    recent: int = 0,
    limit: int = 20,
) -> notification.Notify:
    message = notification.render(about.event_type, about.to_payload(), "en")
    assert message is not None
    return notification.Notify("e1", about.event_type, message, preferences, recent, limit)


def test_each_chosen_channel_gets_one_message_with_a_stable_id() -> None:
    decided = notification.decide(notification.Notification(), notify(MAILED))
    assert [type(e) for e in decided] == [NotificationScheduled, NotificationScheduled]
    assert {e.channel for e in decided} == {"app_push", "sms"}  # type: ignore[attr-defined]
    assert {e.notification_id for e in decided} == {  # type: ignore[attr-defined]
        notification.notification_id("e1", "app_push"),
        notification.notification_id("e1", "sms"),
    }
    state = given(notification.evolve, notification.Notification(), *decided)
    assert notification.decide(state, notify(MAILED)) == []  # redelivered: nothing more


def test_optional_messages_respect_opt_out_required_ones_do_not() -> None:
    [held] = notification.decide(notification.Notification(), notify(MAILED, QUIET))
    assert isinstance(held, NotificationSuppressed)
    assert held.reason == "opted_out"
    [lost] = notification.decide(notification.Notification(), notify(LOST, QUIET))
    assert isinstance(lost, NotificationScheduled)
    assert lost.required
    assert lost.channel == "sms"


def test_a_storm_is_rate_limited_except_for_what_safety_requires() -> None:
    [held] = notification.decide(notification.Notification(), notify(MAILED, recent=20))
    assert isinstance(held, NotificationSuppressed)
    assert held.reason == "rate_limited"
    told = notification.decide(notification.Notification(), notify(LOST, recent=500))
    assert all(isinstance(e, NotificationScheduled) for e in told)
    assert len(told) == 2


def test_an_outcome_is_recorded_once_and_only_a_failure_can_be_retried() -> None:
    scheduled = notification.decide(notification.Notification(), notify(MAILED))
    state = given(notification.evolve, notification.Notification(), *scheduled)
    sms = notification.notification_id("e1", "sms")
    with pytest.raises(NotFailedError):
        notification.decide_outcome(state, notification.Retry(sms, "op"))
    [failed] = notification.decide_outcome(state, notification.RecordFailed(sms, 6, "GATEWAY"))
    assert isinstance(failed, NotificationFailed)
    state = given(notification.evolve, state, failed)
    assert notification.decide_outcome(state, notification.RecordSent(sms)) == []
    [retried] = notification.decide_outcome(state, notification.Retry(sms, "op"))
    assert isinstance(retried, NotificationRetried)
    state = given(notification.evolve, state, retried)
    [sent] = notification.decide_outcome(state, notification.RecordSent(sms))
    assert isinstance(sent, NotificationSent)
    state = given(notification.evolve, state, sent)
    assert notification.decide_outcome(state, notification.RecordSent(sms)) == []
    with pytest.raises(NotificationNotFoundError):
        notification.decide_outcome(state, notification.RecordSent("unknown"))


def test_sms_and_email_need_their_contact() -> None:
    choose = notification.ChoosePreferences(("sms",), "en", True, None, None)
    with pytest.raises(ContactMissingError):
        notification.decide_preferences(notification.Preferences(), choose)


def test_messages_say_what_happened_without_personal_data() -> None:
    mailed = notification.render("CardMailed", MAILED.to_payload())
    bank = CardActivated(card_id="c1", channel="bank", operator="x").to_payload()
    activated = notification.render("CardActivated", bank)
    assert mailed is not None
    assert "EMS1" in mailed.text
    assert activated is not None
    assert "银行网点" in activated.text
    assert notification.render("CardProduced", PRODUCED.to_payload()) is None


def test_retry_delays_double_with_jitter_and_stay_capped() -> None:
    from services.notification.outcomes import backoff_s

    for attempt in range(1, 12):
        ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
        delays = [backoff_s(attempt, 2.0, 60.0) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 150, "jittered, so failures together do not retry together"


def test_a_one_time_code_goes_by_sms_only_and_is_never_in_the_text() -> None:
    code = SmsCodeIssued(
        code_id="k1",
        purpose="password_recovery",
        expires_at=NOW,
        key_id="m1",
        sealed_code="c2VhbGVk",
    )
    app_only = notification.Preferences(("app_push",), "zh-Hans", optional_messages=False)
    for preferences in (BOTH, QUIET, app_only):
        decided = notification.decide(
            notification.Notification(), notify(code, preferences, recent=99, limit=1)
        )
        assert [e.channel for e in decided] == ["sms"]  # type: ignore[attr-defined]
    message = notification.render(code.event_type, code.to_payload(), "zh-Hans")
    assert message is not None
    assert CODE_PLACEHOLDER in message.text
    assert "c2VhbGVk" not in message.text
