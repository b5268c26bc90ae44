"""Made-up but contract-true events: the history each service consumes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.contracts import EventPayload
from shared.contracts.activation import CardActivated
from shared.contracts.card import CardApplied, CardMailed, CardProduced
from shared.contracts.identity import IdentityVerified
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.topics import Producer

CAUSE = Causation("bench", "bench", actor="bench")


def journey(n: int) -> list[tuple[Producer, EventPayload]]:
    """The events of one citizen's journey, by producer."""
    card_id = f"card-{n:08d}"
    now = datetime.now(UTC)
    return [
        (
            "identity",
            IdentityVerified(
                level="real_person",
                channel="online_hall",
                masked_id_number=f"1101**********{n % 10000:04d}",
                id_number_hash=f"{n:064x}",
                face_provider="dev-face",
                verified_at=now,
            ),
        ),
        (
            "card",
            CardApplied(
                card_id=card_id,
                region="110105",
                channel="online_hall",
                kind="online",
                delivery="mail",
                fee_fen=0,
                photo_ref="photo",
                id_checked=False,
            ),
        ),
        (
            "card",
            CardProduced(card_id=card_id, card_number=f"S{n:09d}", chip_serial="AB12", agency="a"),
        ),
        ("card", CardMailed(card_id=card_id, courier="EMS", tracking_number=f"EMS{n:010d}")),
        (
            "activation",
            CardActivated(
                card_id=card_id, channel="online_hall", operator="bench", card_kind="physical"
            ),
        ),
    ]


def envelopes_for(handles: set[str], count: int, first_citizen: int = 0) -> list[Envelope]:
    """``count`` envelopes of the types a consumer handles, citizen after citizen."""
    out: list[Envelope] = []
    n = first_citizen
    while len(out) < count:
        person = str(uuid.UUID(int=n + 1))
        version = 0
        for producer, payload in journey(n):
            if payload.event_type not in handles:
                continue
            [envelope] = EventStore(producer).envelopes(
                f"bench-{producer}-{n}", version, person, [payload], CAUSE
            )
            version += 1
            out.append(envelope)
            if len(out) == count:
                break
        n += 1
    return out
