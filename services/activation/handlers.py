"""The activation service's command handlers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.activation import domain, store
from services.activation.errors import REFUSAL_ERRORS
from shared import verified
from shared.aggregate import decide_and_append, retry_on_conflict
from shared.contracts import ActivationRefused
from shared.contracts.activation import ActivationChannel
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore


@dataclass(frozen=True)
class Activated:
    """What the channel learns: what was recorded (nothing when it was active already)."""

    card_id: str
    events: Sequence[Envelope]

    @property
    def already_active(self) -> bool:
        """True when the card had been activated before."""
        return not self.events


@dataclass(frozen=True)
class ActivationHandlers:
    """The activation service's use cases, given their ports."""

    pool: asyncpg.Pool
    events: EventStore
    max_verification_age: timedelta
    clock: Callable[[], datetime]

    async def activate(
        self,
        *,
        card_id: str,
        person_id: str,
        channel: ActivationChannel,
        operator: str,
        causation: Causation,
        id_checked: bool = False,
        presented_old_card: str | None = None,
    ) -> Activated:
        """Activate a card by a channel's rule; a refusal is recorded, then answered."""

        async def attempt() -> list[Envelope]:
            async with self.pool.acquire() as conn, conn.transaction():
                holder = domain.Holder(
                    level=await verified.verification_level(conn, person_id),
                    real_person_at=await verified.last_face_verification(conn, person_id),
                )
                command = domain.ActivateCard(
                    card_id=card_id,
                    person_id=person_id,
                    channel=channel,
                    operator=operator,
                    card=await store.card_facts(conn, card_id),
                    holder=holder,
                    at=self.clock(),
                    max_verification_age=self.max_verification_age,
                    id_checked=id_checked,
                    presented_old_card=presented_old_card,
                )
                return await decide_and_append(
                    conn,
                    self.events,
                    stream_id=f"activation-{card_id}",
                    person_id=person_id,
                    initial=domain.Activation(),
                    evolve=domain.evolve,
                    decide=lambda state: domain.decide(state, command),
                    causation=causation,
                )

        events = await retry_on_conflict(attempt)
        if events and events[0].event_type == ActivationRefused.event_type:
            raise REFUSAL_ERRORS[events[0].payload["reason"]]()
        return Activated(card_id, events)

    async def activate_financial(
        self, *, card_id: str, person_id: str, bank: str, id_checked: bool, causation: Causation
    ) -> Activated:
        """Turn on the card's bank function (once)."""

        async def attempt() -> list[Envelope]:
            async with self.pool.acquire() as conn, conn.transaction():
                command = domain.ActivateFinancialFunction(
                    card_id, person_id, bank, await store.card_facts(conn, card_id), id_checked
                )
                return await decide_and_append(
                    conn,
                    self.events,
                    stream_id=f"financial-{card_id}",
                    person_id=person_id,
                    initial=domain.FinancialFunction(),
                    evolve=domain.evolve_financial,
                    decide=lambda state: domain.decide_financial(state, command),
                    causation=causation,
                )

        return Activated(card_id, await retry_on_conflict(attempt))
