"""The notification decider: each event told once, without personal data."""

from __future__ import annotations

from services.notification import domain as notification
from shared.contracts import (
    CardActivated,
    EventPayload,
    NotificationSent,
)
from tests.unit.samples import MAILED, PRODUCED, given


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
