"""Identity's command handlers: verification of registered persons."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.identity import domain, store
from services.identity.errors import (
    FAILURE_ERRORS,
    FaceResultReplayedError,
    FaceVerificationLockedError,
    PersonalDataErasedError,
    PersonNotRegisteredError,
)
from services.identity.facecheck import authenticate_face_check, face_failure
from services.identity.idnumber import IdNumber, parse_id_number
from services.identity.vault import Vault, decrypt_field
from shared.aggregate import retry_on_conflict, run
from shared.contracts.facecheck import FaceCheckResult
from shared.contracts.identity import (
    FaceVerificationLocked,
    IdentityVerificationFailed,
    PersonFactsIssued,
)
from shared.db import Connection
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.facts import PHOTO_AGE, FactsKeys, turns
from shared.privacy import keyed_hash


@dataclass(frozen=True)
class Verification:
    """The outcome a channel gets back."""

    person_id: str
    event: Envelope

    @property
    def level(self) -> str:
        """real_name or real_person."""
        return str(self.event.payload["level"])


@dataclass(frozen=True)
class GuardianProof:
    """The guardian acting for a child under 16: their own name, ID number and face check."""

    name: str
    id_number: str
    face_check: FaceCheckResult | None


@dataclass(frozen=True)
class IdentityHandlers:
    """Identity's use cases, given their ports."""

    pool: asyncpg.Pool
    events: EventStore
    vault: Vault
    hash_key: str
    face_keys: Mapping[str, Sequence[Ed25519PublicKey]]
    face_max_age: timedelta
    face_min_score: float
    lock_policy: Callable[[str], domain.LockPolicy]
    clock: Callable[[], datetime]
    facts: FactsKeys

    async def verify(
        self,
        *,
        name: str,
        id_number: str,
        face_check: FaceCheckResult | None,
        channel: str,
        causation: Causation,
        guardian: GuardianProof | None = None,
    ) -> Verification:
        """Real-name verification of a registered person, real-person with a face check;
        under 16, through the guardian's own verification.

        A failed attempt is recorded (it counts toward the face lock) and then refused.
        """
        now = self.clock()
        given_name = domain.normalize_name(name)
        parsed = parse_id_number(id_number, now.date())
        age = parsed.age_on(now.date())
        face = None
        acting_guardian = None
        if age < domain.GUARDIAN_AGE and guardian is not None:
            acting = await self.verify(
                name=guardian.name,
                id_number=guardian.id_number,
                face_check=guardian.face_check,
                channel=channel,
                causation=causation,
            )
            acting_guardian = acting.person_id
            if acting.level == "real_person" and guardian.face_check is not None:
                face = domain.FaceOutcome(guardian.face_check.provider, None)
            face_check = None  # the guardian's face stood for the child's
        if face_check is not None:
            authenticate_face_check(
                face_check,
                keys=self.face_keys,
                id_number=parsed.value,
                now=now,
                max_age=self.face_max_age,
            )
            failure = face_failure(face_check, min_score=self.face_min_score)
            face = domain.FaceOutcome(face_check.provider, failure)
        id_hash = keyed_hash(self.hash_key, parsed.value)

        async def attempt() -> tuple[str, list[Envelope]]:
            async with self.pool.acquire() as conn, conn.transaction():
                if face_check and not await store.use_face_nonce(
                    conn, face_check.provider, face_check.nonce
                ):
                    raise FaceResultReplayedError()
                person = await store.find_person(conn, id_hash)
                if person is None:
                    raise PersonNotRegisteredError()
                command = domain.VerifyIdentity(
                    channel=channel,
                    masked_id_number=parsed.masked,
                    id_number_hash=id_hash,
                    name_matches=self.registered_name(person) == given_name,
                    face=face,
                    policy=self.lock_policy(person.region),
                    at=now,
                    age=age,
                    registered_guardian=person.guardian_person_id,
                    acting_guardian=acting_guardian,
                    facts=self.person_facts(person.person_id, parsed, now),
                )
                events = await self._on_person(conn, person.person_id, command, causation)
                return person.person_id, events

        person_id, events = await retry_on_conflict(attempt)
        _refuse_if_failed(events)
        return Verification(person_id, events[-1])

    async def erase(self, *, person_id: str, requested_by: str, causation: Causation) -> bool:
        """Destroy the person's key; True when erased now, False when it already was."""

        async def attempt() -> bool:
            async with self.pool.acquire() as conn, conn.transaction():
                command = domain.ErasePersonalData(
                    holds_card=await store.holds_card(conn, person_id),
                    requested_by=requested_by,
                    at=self.clock(),
                )
                events = await self._on_person(conn, person_id, command, causation)
                await store.destroy_key(conn, person_id)
                await store.project_people(conn, events)
                return bool(events)

        return await retry_on_conflict(attempt)

    async def issue_facts(self, person_id: str, causation: Causation) -> bool:
        """Issue a registered person's facts under the current key unless they were (persons
        verified before facts existed, or after a key rotation); True when issued now."""

        async def attempt() -> bool:
            async with self.pool.acquire() as conn, conn.transaction():
                stored = await store.sealed_id_number(conn, person_id)
                if stored is None:
                    return False  # not registered, or erased
                wrapped_key, ciphertext = stored
                key = self.vault.unwrap(person_id, wrapped_key)
                number = decrypt_field(key, person_id, "id_number", ciphertext)
                now = self.clock()
                facts = self.person_facts(person_id, parse_id_number(number, now.date()), now)
                command = domain.IssueFacts(facts)
                return bool(await self._on_person(conn, person_id, command, causation))

        return await retry_on_conflict(attempt)

    async def issue_facts_page(
        self, after: str, limit: int, causation: Causation
    ) -> tuple[int, int, str]:
        """``issue_facts`` for the registered persons after ``after``, up to ``limit`` of them:
        (persons seen, facts issued now, the last person id seen)."""
        async with self.pool.acquire() as conn:
            people = await store.registered_person_ids(conn, after, limit)
            # Those who have facts under the current key are passed over without a decryption.
            streams = {domain.PERSON.stream(p): p for p in people}
            lacking = await store.without_facts(conn, list(streams), self.facts.current)
        to_issue = [person for stream, person in streams.items() if stream in lacking]
        done = await asyncio.gather(*(self.issue_facts(p, causation) for p in to_issue))
        return len(people), sum(done), people[-1] if people else after

    async def _on_person(
        self, conn: Connection, person_id: str, command: domain.Command, causation: Causation
    ) -> list[Envelope]:
        """Decide a command on the person's stream and append what it caused."""
        person = domain.PERSON.at(person_id, person=person_id)
        return await run(conn, self.events, person, command, causation)

    def person_facts(self, person_id: str, parsed: IdNumber, now: datetime) -> PersonFactsIssued:
        """The facts card and activation need of a person, under the current facts key."""
        return PersonFactsIssued(
            key_id=self.facts.current,
            password_windows=self.facts.password_windows(person_id, parsed.value),
            photo_exempt_until=self.facts.seal_photo_exempt_until(
                person_id, turns(parsed.birth_date, PHOTO_AGE)
            ),
            issued_at=now,
        )

    def registered_name(self, person: store.StoredPerson) -> str:
        if person.erased or person.wrapped_key is None or person.name_ciphertext is None:
            raise PersonalDataErasedError()
        key = self.vault.unwrap(person.person_id, person.wrapped_key)
        return decrypt_field(key, person.person_id, "name", person.name_ciphertext)


def _refuse_if_failed(events: Sequence[Envelope]) -> None:
    """After a failed attempt was recorded, answer the channel with its reason."""
    types = [e.event_type for e in events]
    if FaceVerificationLocked.event_type in types:
        raise FaceVerificationLockedError()
    if types[0] == IdentityVerificationFailed.event_type:
        raise FAILURE_ERRORS[events[0].payload["reason"]]()
