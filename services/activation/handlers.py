"""The activation service's command handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from services.activation import domain, store
from services.activation.errors import REFUSAL_ERRORS, FamilyLinkRequiredError
from shared import verified
from shared.aggregate import retry_on_conflict, run
from shared.contracts.activation import ActivationChannel, ActivationRefused, CardKind
from shared.db import Connection
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.groupcommit import CommitGroup


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
    #: The password policy and its Argon2id hash (``PasswordHandlers.allowed_hash``).
    allowed_hash: Callable[[str, str, CardKind], Awaitable[str]]
    ecard_processing: Callable[[str], timedelta] = lambda _: timedelta(0)
    #: The activation commands' path: concurrent ones share a transaction (group commit).
    group: CommitGroup = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "group", CommitGroup(self.pool, self.events))

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
        acting_person_id: str | None = None,
    ) -> Activated:
        """Activate a card by a channel's rule; a refusal is recorded, then answered.

        A family holder who linked the person may act for them (``acting_person_id``): then
        the holder's own verification is what the channel's rule looks at.
        """
        actor = acting_person_id or person_id

        async with self.pool.acquire() as conn:
            if actor != person_id and not await store.may_act_for(conn, actor, person_id):
                raise FamilyLinkRequiredError()
            command = domain.ActivateCard(
                card_id=card_id,
                person_id=person_id,
                channel=channel,
                operator=operator,
                card=await store.card_facts(conn, card_id),
                holder=await _holder(conn, actor),
                at=self.clock(),
                max_verification_age=self.max_verification_age,
                id_checked=id_checked,
                presented_old_card=presented_old_card,
            )
        card = domain.ACTIVATION.at(card_id, person=person_id)
        events = await self.group.run(card, command, causation)
        if events and events[0].event_type == ActivationRefused.event_type:
            raise REFUSAL_ERRORS[events[0].payload["reason"]]()
        return Activated(card_id, events)

    async def activate_ecard(
        self, *, person_id: str, password: str, operator: str, causation: Causation
    ) -> Activated:
        """Activate the holder's e-card, setting its own password (checked against the policy
        and hashed before anything is read or written)."""
        hashed_password = await self.allowed_hash(password, person_id, "electronic")

        async def attempt() -> tuple[str, list[Envelope]]:
            async with self.pool.acquire() as conn, conn.transaction():
                card_id = await store.ecard_of(conn, person_id)
                command = domain.ActivateECard(
                    person_id,
                    card_id,
                    await _holder(conn, person_id),
                    self.clock(),
                    self.max_verification_age,
                    operator,
                    self.ecard_processing(await store.ecard_region(conn, person_id)),
                )
                ecard = domain.ECARD_ACTIVATION.at(person_id, person=person_id)
                events = await run(conn, self.events, ecard, command, causation)
                if events:
                    await store.store_password_hash(
                        conn, f"ecard-{person_id}", "electronic", hashed_password
                    )
                return card_id or "", events

        card_id, events = await retry_on_conflict(attempt)
        return Activated(card_id, events)

    async def activate_financial(
        self, *, card_id: str, person_id: str, bank: str, id_checked: bool, causation: Causation
    ) -> Activated:
        """Turn on the card's bank function (once)."""

        async with self.pool.acquire() as conn:
            facts = await store.card_facts(conn, card_id)
        command = domain.ActivateFinancialFunction(card_id, person_id, bank, facts, id_checked)
        function = domain.FINANCIAL.at(card_id, person=person_id)
        return Activated(card_id, await self.group.run(function, command, causation))


async def _holder(conn: Connection, person_id: str) -> domain.Holder:
    """What identity's events say of a person's verification."""
    return domain.Holder(
        level=await verified.verification_level(conn, person_id),
        real_person_at=await verified.last_face_verification(conn, person_id),
    )
