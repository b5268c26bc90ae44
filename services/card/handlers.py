"""The card service's command handlers: load the holder's stream, decide, append, project."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.card import domain, store
from services.card.errors import CardNotFoundError, RegionInvalidError
from shared import verified
from shared.aggregate import decide_and_append, retry_on_conflict
from shared.contracts.card import ApplicationKind, DeliveryMethod
from shared.db import Connection
from shared.envelope import Envelope, new_event_id
from shared.eventstore import Causation, EventStore
from shared.regions import is_region, province_of


def holder_stream(person_id: str, region: str) -> str:
    """The stream of a person's cards in the province of ``region``."""
    return f"cards-{person_id}-{province_of(region)}"


@dataclass(frozen=True)
class CardHandlers:
    """The card service's use cases, given their ports."""

    pool: asyncpg.Pool
    events: EventStore

    async def apply(
        self,
        *,
        person_id: str,
        region: str,
        channel: str,
        kind: ApplicationKind,
        delivery: DeliveryMethod,
        causation: Causation,
    ) -> Envelope:
        """A person applies for a card in a region."""
        if not is_region(region):
            raise RegionInvalidError()
        card_id = str(new_event_id())

        async def attempt() -> Envelope:
            async with self.pool.acquire() as conn, conn.transaction():
                command = domain.ApplyForCard(
                    card_id=card_id,
                    region=region,
                    channel=channel,
                    kind=kind,
                    delivery=delivery,
                    holder_level=await verified.verification_level(conn, person_id),
                )
                [event] = await self._run(
                    conn, person_id, holder_stream(person_id, region), command, causation
                )
                return event

        return await retry_on_conflict(attempt)

    async def on_card(
        self,
        card_id: str,
        command: domain.ReportProduced | domain.ReportMailed,
        causation: Causation,
    ) -> Envelope:
        """A command about an existing card (production, mailing)."""

        async def attempt() -> Envelope:
            async with self.pool.acquire() as conn, conn.transaction():
                card = await store.find_card(conn, card_id)
                if card is None:
                    raise CardNotFoundError()
                [event] = await self._run(
                    conn, card["person_id"], card["stream_id"], command, causation
                )
                return event

        return await retry_on_conflict(attempt)

    async def _run(
        self,
        conn: Connection,
        person_id: str,
        stream_id: str,
        command: domain.Command,
        causation: Causation,
    ) -> list[Envelope]:
        events = await decide_and_append(
            conn,
            self.events,
            stream_id=stream_id,
            person_id=person_id,
            initial=domain.Holder(),
            evolve=domain.evolve,
            decide=lambda state: domain.decide(state, command),
            causation=causation,
        )
        await store.project_cards(conn, events)
        return events
