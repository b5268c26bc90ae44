"""Family service (亲情服务): holders link family members who may act for them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from services.identity import domain, store
from services.identity.domain import GUARDIAN_AGE, normalize_name
from services.identity.errors import (
    FamilyConsentRequiredError,
    FamilySelfLinkError,
    NameMismatchError,
    PersonNotRegisteredError,
)
from services.identity.handlers import IdentityHandlers
from services.identity.idnumber import parse_id_number
from shared.aggregate import load_state, retry_on_conflict, run
from shared.contracts.facecheck import FaceCheckResult
from shared.contracts.identity import Relation
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.privacy import keyed_hash


@dataclass(frozen=True)
class FamilyHandlers:
    """Linking and unlinking family members, given the ports."""

    pool: asyncpg.Pool
    events: EventStore
    verifier: IdentityHandlers
    hash_key: str
    family_limit: Callable[[str], int]
    clock: Callable[[], datetime]

    async def link(
        self,
        *,
        holder_person_id: str,
        member_name: str,
        member_id_number: str,
        member_face_check: FaceCheckResult | None,
        relation: Relation,
        channel: str,
        causation: Causation,
        member_signed_in: str | None = None,
        self_service: bool = False,
    ) -> tuple[str, bool]:
        """Link a member (adult: their own face check, and on a self-service channel their
        own citizen token, ``member_signed_in``; under 16: by their guardian).

        Returns the member's person id and whether a new link was made.
        """
        now = self.clock()
        member_id = parse_id_number(member_id_number, now.date())
        async with self.pool.acquire() as conn:
            member = await store.find_person(conn, keyed_hash(self.hash_key, member_id.value))
            region = await store.region_of(conn, holder_person_id)
        if member is None or region is None:
            raise PersonNotRegisteredError()
        if member.person_id == holder_person_id:
            raise FamilySelfLinkError()
        consent: Literal["member_face_check", "guardian"]
        if member_id.age_on(now.date()) < GUARDIAN_AGE:
            if member.guardian_person_id != holder_person_id:
                raise FamilyConsentRequiredError()
            consent = "guardian"
        elif member_face_check is None:
            raise FamilyConsentRequiredError()
        elif self_service and member_signed_in != member.person_id:
            raise FamilyConsentRequiredError("An adult member consents signed in themselves.")
        else:
            consent = "member_face_check"
        if consent == "member_face_check":
            # The member's own verification (on their stream; failures count for them).
            await self.verifier.verify(
                name=member_name,
                id_number=member_id_number,
                face_check=member_face_check,
                channel=channel,
                causation=causation,
            )
        elif self.verifier.registered_name(member) != normalize_name(member_name):
            raise NameMismatchError()
        command = domain.LinkFamilyMember(
            member.person_id, relation, consent, self.family_limit(region), now
        )
        events = await self._on_holder(holder_person_id, command, causation)
        return member.person_id, bool(events)

    async def unlink(
        self,
        *,
        holder_person_id: str,
        member_person_id: str,
        by: Literal["holder", "member"],
        causation: Causation,
    ) -> None:
        """Remove a link, at the holder's or the member's request."""
        command = domain.UnlinkFamilyMember(member_person_id, by, self.clock())
        await self._on_holder(holder_person_id, command, causation)

    async def members(self, holder_person_id: str) -> tuple[str, ...]:
        """The holder's linked family members."""
        async with self.pool.acquire() as conn:
            state, _ = await load_state(
                conn, self.events, domain.PERSON, domain.PERSON.stream(holder_person_id)
            )
        if not state.registered:
            raise PersonNotRegisteredError()
        return state.family

    async def _on_holder(
        self, holder_person_id: str, command: domain.Command, causation: Causation
    ) -> list[Envelope]:
        async def attempt() -> list[Envelope]:
            async with self.pool.acquire() as conn, conn.transaction():
                holder = domain.PERSON.at(holder_person_id, person=holder_person_id)
                return await run(conn, self.events, holder, command, causation)

        return await retry_on_conflict(attempt)
