"""Identity's command handlers: validate, check the face result, decide, append."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.identity import domain, store
from services.identity.errors import FaceResultReplayedError
from services.identity.facecheck import FaceCheckResult, verify_face_check
from services.identity.idnumber import parse_id_number
from shared.aggregate import decide_and_append, retry_on_conflict
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.privacy import keyed_hash


@dataclass(frozen=True)
class Verification:
    """The outcome a channel gets back."""

    person_id: str
    event: Envelope


@dataclass(frozen=True)
class IdentityHandlers:
    """Identity's use cases, given their ports."""

    pool: asyncpg.Pool
    events: EventStore
    hash_key: str
    face_keys: Mapping[str, Sequence[Ed25519PublicKey]]
    face_max_age: timedelta
    face_min_score: float
    clock: Callable[[], datetime]

    async def verify(
        self,
        *,
        name: str,
        id_number: str,
        face_check: FaceCheckResult | None,
        channel: str,
        causation: Causation,
    ) -> Verification:
        """Real-name verification, and real-person when a signed face check is given."""
        now = self.clock()
        domain.normalize_name(name)
        parsed = parse_id_number(id_number, now.date())
        if face_check is not None:
            verify_face_check(
                face_check,
                keys=self.face_keys,
                id_number=parsed.value,
                now=now,
                max_age=self.face_max_age,
                min_score=self.face_min_score,
            )
        command = domain.VerifyIdentity(
            channel=channel,
            id_number=parsed,
            id_number_hash=keyed_hash(self.hash_key, parsed.value),
            face_provider=face_check.provider if face_check else None,
            at=now,
        )

        async def attempt() -> Verification:
            async with self.pool.acquire() as conn, conn.transaction():
                if face_check and not await store.use_face_nonce(
                    conn, face_check.provider, face_check.nonce
                ):
                    raise FaceResultReplayedError()
                person_id = await store.person_id_for(conn, command.id_number_hash)
                [event] = await decide_and_append(
                    conn,
                    self.events,
                    stream_id=f"person-{person_id}",
                    person_id=person_id,
                    initial=domain.Person(),
                    evolve=domain.evolve,
                    decide=lambda state: domain.decide(state, command),
                    causation=causation,
                )
                return Verification(person_id, event)

        return await retry_on_conflict(attempt)
