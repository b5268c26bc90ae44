"""The activation service's command handlers."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.activation import domain, store
from shared import verified
from shared.aggregate import decide_and_append, retry_on_conflict
from shared.contracts.activation import ActivationChannel
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore


@dataclass(frozen=True)
class ActivationHandlers:
    """The activation service's use cases, given their ports."""

    pool: asyncpg.Pool
    events: EventStore

    async def activate(
        self,
        *,
        card_id: str,
        person_id: str,
        channel: ActivationChannel,
        operator: str,
        causation: Causation,
    ) -> Envelope:
        """Activate a card's social security function for its holder."""

        async def attempt() -> Envelope:
            async with self.pool.acquire() as conn, conn.transaction():
                command = domain.ActivateCard(
                    card_id=card_id,
                    person_id=person_id,
                    channel=channel,
                    operator=operator,
                    card=await store.card_facts(conn, card_id),
                    holder_level=await verified.verification_level(conn, person_id),
                )
                [event] = await decide_and_append(
                    conn,
                    self.events,
                    stream_id=f"activation-{card_id}",
                    person_id=person_id,
                    initial=domain.Activation(),
                    evolve=domain.evolve,
                    decide=lambda state: domain.decide(state, command),
                    causation=causation,
                )
                return event

        return await retry_on_conflict(attempt)
