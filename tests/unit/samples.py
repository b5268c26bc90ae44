"""What the decider tests share: a clock reading, folding events, a few card events."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from shared.contracts import CardApplied, CardMailed, CardProduced, EventPayload

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def given(evolve, initial, *events: EventPayload):  # type: ignore[no-untyped-def]
    """The state after these events."""
    return functools.reduce(evolve, events, initial)


APPLIED = CardApplied(
    card_id="c1", region="410105", channel="online_hall", kind="online", delivery="mail", fee_fen=0
)
PRODUCED = CardProduced(card_id="c1", card_number="S1", chip_serial="AB", agency="agency")
MAILED = CardMailed(card_id="c1", courier="EMS", tracking_number="EMS1")
