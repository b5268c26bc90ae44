"""The card service's command handlers: load the holder's stream, decide, append, project."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from services.card import commands, domain, store
from services.card.errors import (
    CardError,
    CardNotFoundError,
    ECardNotClaimedError,
    FamilyLinkRequiredError,
    RegionInvalidError,
)
from services.card.settings import CardSettings
from shared import facts, verified
from shared.aggregate import retry_on_conflict, run
from shared.contracts.card import ApplicationKind, DeliveryMethod, LossKind, ReplacementReason
from shared.db import Connection, take_turn
from shared.envelope import Envelope, new_event_id
from shared.eventstore import Causation, EventStore
from shared.facts import FactsKeys
from shared.groupcommit import CommitGroup
from shared.regions import is_region, province_of


def holder_stream(person_id: str, region: str) -> str:
    """The stream of a person's cards in the province of ``region``."""
    return domain.HOLDER.stream(person_id, province_of(region))


@dataclass(frozen=True)
class CardHandlers:
    """The card service's use cases, given their ports."""

    pool: asyncpg.Pool
    events: EventStore
    settings: CardSettings
    clock: Callable[[], datetime]
    #: The card commands' path: concurrent ones share a transaction (group commit).
    group: CommitGroup = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "group", CommitGroup(self.pool, self.events, self._project))

    @functools.cached_property
    def facts(self) -> FactsKeys:
        """The keys identity's person facts are issued under."""
        return self.settings.facts()

    async def apply(
        self,
        *,
        person_id: str,
        region: str,
        kind: ApplicationKind,
        delivery: DeliveryMethod,
        causation: Causation,
        photo_ref: str | None = None,
        id_checked: bool = False,
    ) -> Envelope:
        """A person applies for a card in a region (a photo is needed from the age of 7, as
        identity's facts say; see ``shared.facts``)."""
        if not is_region(region):
            raise RegionInvalidError()
        card_id = str(new_event_id())

        async def attempt(conn: Connection) -> commands.Command:
            return commands.ApplyForCard(
                card_id=card_id,
                region=region,
                channel=causation.channel or "",
                kind=kind,
                delivery=delivery,
                holder_level=await verified.verification_level(conn, person_id),
                photo_ref=photo_ref,
                under_7=await facts.photo_exempt(conn, self.facts, person_id, self.clock().date()),
                id_checked=id_checked,
            )

        events = await self._on_stream(
            person_id, holder_stream(person_id, region), attempt, causation
        )
        return events[0]

    async def on_card(
        self, card_id: str, command: commands.Command, causation: Causation
    ) -> list[Envelope]:
        """A command about an existing card."""
        return await self._on_card(card_id, lambda _: command, causation)

    async def report_lost(
        self, card_id: str, kind: LossKind, by_role: str, causation: Causation
    ) -> list[Envelope]:
        """Report a card lost; a temporary report lapses after the card's region's period."""
        return await self._on_card(
            card_id,
            lambda card: commands.ReportLost(
                card_id, kind, by_role, self.clock(), self.settings.loss_lapse(card["region"])
            ),
            causation,
        )

    async def batch(self, *, size: int, agency: str, causation: Causation) -> tuple[str, list[str]]:
        """Take up to ``size`` pending applications, oldest first, into a production batch."""
        batch_id = f"batch-{new_event_id()}"
        async with self.pool.acquire() as conn:
            pending = await store.cards_in_status(conn, "applied", size)
        taken: list[str] = []
        for row in pending:
            command: commands.Command = commands.StartProduction(row["card_id"], batch_id, agency)
            try:
                await self.on_card(row["card_id"], command, causation)
            except CardError:
                continue  # another agency's batch took it first
            taken.append(row["card_id"])
        return batch_id, taken

    async def replace(
        self,
        card_id: str,
        *,
        reason: ReplacementReason,
        kind: ApplicationKind,
        delivery: DeliveryMethod,
        causation: Causation,
    ) -> list[Envelope]:
        """Replace (补卡) or exchange (换卡) a card: the fee is the region's."""
        new_card_id = str(new_event_id())
        return await self._on_card(
            card_id,
            lambda card: commands.ReplaceCard(
                card_id=card_id,
                new_card_id=new_card_id,
                reason=reason,
                fee_fen=self.settings.replacement_fee(card["region"]),
                channel=causation.channel or "",
                kind=kind,
                delivery=delivery,
            ),
            causation,
        )

    async def claim_ecard(
        self, *, person_id: str, region: str, acting_person_id: str | None, causation: Causation
    ) -> list[Envelope]:
        """Claim the e-card (the holder, or a family member they linked)."""
        if not is_region(region):
            raise RegionInvalidError()

        stream = holder_stream(person_id, region)

        async def attempt(conn: Connection) -> commands.Command:
            on_behalf = acting_person_id not in (None, person_id)
            if on_behalf and not await store.may_act_for(conn, str(acting_person_id), person_id):
                raise FamilyLinkRequiredError()
            # The national e-card is one per person: claims in two provinces (two streams) at
            # once take turns, and the second sees the first.
            await take_turn(conn, f"ecard:{person_id}")
            elsewhere = await store.ecard_stream(conn, person_id)
            if elsewhere not in (None, stream):
                # It leaves the other province only if its card there is no longer valid.
                move = commands.MoveECard(region)
                await self.run(conn, person_id, str(elsewhere), move, causation)
            return commands.ClaimECard(
                region=region,
                channel=causation.actor or "",
                holder_level=await verified.verification_level(conn, person_id),
                on_behalf=on_behalf,
            )

        return await self._on_stream(person_id, stream, attempt, causation, writes=True)

    async def channel(
        self, person_id: str, command: commands.Command, causation: Causation
    ) -> list[Envelope]:
        """Bind or unlink one channel of the person's e-card."""
        async with self.pool.acquire() as conn:
            stream = await store.ecard_stream(conn, person_id)
        if stream is None:
            raise ECardNotClaimedError()

        async def attempt(conn: Connection) -> commands.Command:
            return command

        return await self._on_stream(person_id, stream, attempt, causation)

    async def _project(self, conn: Connection, events: Sequence[Envelope]) -> None:
        await store.project(conn, events, self.settings.seal_after)

    async def _on_card(
        self,
        card_id: str,
        build: Callable[[asyncpg.Record], commands.Command],
        causation: Causation,
    ) -> list[Envelope]:
        """A command about an existing card, built from what the read model knows of it."""
        async with self.pool.acquire() as conn:
            card = await store.find_card(conn, card_id)
        if card is None:
            raise CardNotFoundError()
        holder = domain.HOLDER.in_stream(card["stream_id"], person=card["person_id"])
        return await self.group.run(holder, build(card), causation)

    async def _on_stream(
        self,
        person_id: str,
        stream_id: str,
        build: Callable[[Connection], Awaitable[commands.Command]],
        causation: Causation,
        *,
        writes: bool = False,
    ) -> list[Envelope]:
        """A command on a holder's stream, built from what the read models say (read before,
        as at any isolation level they may change until the events commit). A command whose
        building ``writes`` too (it takes a turn, moves the e-card) is built and run in one
        transaction of its own."""
        if not writes:
            async with self.pool.acquire() as conn:
                command = await build(conn)
            holder = domain.HOLDER.in_stream(stream_id, person=person_id)
            return await self.group.run(holder, command, causation)

        async def attempt() -> list[Envelope]:
            async with self.pool.acquire() as conn, conn.transaction():
                command = await build(conn)
                return await self.run(conn, person_id, stream_id, command, causation)

        return await retry_on_conflict(attempt)

    async def run(
        self,
        conn: Connection,
        person_id: str,
        stream_id: str,
        command: commands.Command,
        causation: Causation,
    ) -> list[Envelope]:
        holder = domain.HOLDER.in_stream(stream_id, person=person_id)
        events = await run(conn, self.events, holder, command, causation)
        await store.project(conn, events, self.settings.seal_after)
        return events
