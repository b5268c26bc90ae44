"""What the decider tests share: a clock reading, folding events, a few card events."""

from __future__ import annotations

import base64
import functools
import os
from datetime import UTC, datetime
from typing import Any

from shared.contracts import EventPayload
from shared.contracts.card import CardApplied, CardMailed, CardProduced
from shared.signing import public_b64

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def given(evolve, initial, *events: EventPayload):  # type: ignore[no-untyped-def]
    """The state after these events."""
    return functools.reduce(evolve, events, initial)


APPLIED = CardApplied(
    card_id="c1", region="410105", channel="online_hall", kind="online", delivery="mail", fee_fen=0
)
PRODUCED = CardProduced(card_id="c1", card_number="S1", chip_serial="AB", agency="agency")
MAILED = CardMailed(card_id="c1", courier="EMS", tracking_number="EMS1")


def production_secrets() -> dict[str, Any]:
    """Every shared setting production needs, with fresh keys (a service adds its own)."""
    return {
        "SHEBAO_ENV": "production",
        "DATABASE_URL": "postgresql://shebao:Xq7-long-enough-pw@db:5432/shebao",
        "SHEBAO_API_KEYS": {"k" * 32: {"name": "hospital-1", "role": "hospital"}},
        "SHEBAO_FACTS_KEYS": {"f1": base64.b64encode(os.urandom(32)).decode()},
        "SHEBAO_MESSAGE_KEYS": {"m1": base64.b64encode(os.urandom(32)).decode()},
        "SHEBAO_CITIZEN_TOKEN_KEYS": {"t1": public_b64(os.urandom(32))},
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": "identity",
        "KAFKA_SASL_PASSWORD": "Kq8-long-enough-kafka-pw",
    }
