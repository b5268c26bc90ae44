"""Password use cases: authorise a settlement, change, unlock, reset. Hashes are Argon2id,
computed off the event loop; no password or hash ever leaves this module but to its table."""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from services.activation import domain, store
from services.activation.errors import (
    PAYMENT_ERRORS,
    ActivationError,
    CardNotFoundError,
    CardNotHeldError,
    ChannelNotBoundError,
    ECardNotClaimedError,
    ECardProcessingError,
    PasswordCheckUnavailableError,
    PasswordLockedError,
    PasswordWeakError,
    PasswordWrongError,
    RecoveryProofRequiredError,
    SmsCodeRequiredError,
)
from services.activation.password import domain as passwords
from services.activation.password.sms_codes import SmsCodes
from services.activation.payment import domain as payment
from services.activation.payment import settlements
from services.activation.payment.domain import PayingCard, PaymentRefusal, Settlement
from shared import facts, verified
from shared.aggregate import load_state, retry_on_conflict, run
from shared.contracts.activation import CardKind, PasswordAttemptFailed, PasswordLocked
from shared.db import Connection
from shared.envelope import Envelope
from shared.eventstore import Causation, ConcurrencyError, EventStore
from shared.facts import FactsKeys


def hashing_threads() -> ThreadPoolExecutor:
    """The threads password hashes run in: one per core (Argon2 is CPU-bound; each thread
    that hashed keeps its memory arena, so more threads only hold more memory)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="password")


def password_hasher() -> PasswordHasher:
    """Argon2id with OWASP's first recommended setting (Password Storage Cheat Sheet:
    19 MiB, 2 iterations, 1 lane; ~25 ms here). argon2-cffi's default (64 MiB, 3 iterations,
    4 lanes) took ~250 ms of both cores for every payment's password check, capping a
    process at ~8 settlements/s (make bench, HTTP section). A 6-digit password's guard is the
    lock after wrong tries; hashes made with other settings still verify (each names its own)."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass(frozen=True)
class Proof:
    """How the holder proved who they are to unlock or reset."""

    person_id: str
    id_checked: bool = False
    #: Online: the one-time code sent by SMS (its id, and the 6 digits).
    sms_code: tuple[str, str] | None = None


@dataclass(frozen=True)
class Subject:
    """The password's owner: its key in the password table, the card, holder and region."""

    key: str
    card_id: str
    person_id: str
    region: str
    active: bool
    #: Why it may not pay now (payment/domain.py), or None.
    refusal: PaymentRefusal | None = None


@dataclass(frozen=True)
class PasswordHandlers:
    """Password use cases, given their ports."""

    pool: asyncpg.Pool
    events: EventStore
    hasher: PasswordHasher
    #: Threads that hash (as many as cores: more only hold more Argon2 memory, 19 MiB each).
    hashing: Executor
    initial_password: Callable[[str], str]
    lock_rule: Callable[[str], passwords.LockRule]
    max_verification_age: timedelta
    clock: Callable[[], datetime]
    facts: FactsKeys
    sms: SmsCodes

    async def authorize(
        self, *, card_id: str, password: str, settlement: Settlement, causation: Causation
    ) -> None:
        """Authorise a settlement with the physical card: it may pay, and the password (no
        longer the initial one) is right. Either way the settlement is recorded."""
        await self._enter(card_id, "physical", password, settlement.channel, causation, settlement)

    async def authorize_ecard(
        self, *, person_id: str, password: str, settlement: Settlement, causation: Causation
    ) -> None:
        """Authorise a payment with the e-card (its password's lock leaves the physical card
        alone); recorded like a settlement."""
        await self._enter(
            person_id, "electronic", password, settlement.channel, causation, settlement
        )

    async def paying_ecard(self, person_id: str, channel: str) -> str:
        """The card the person's e-card is bound to, if the e-card may pay now through
        ``channel`` (one the holder bound it to)."""
        async with self.pool.acquire() as conn:
            subject = await self._subject(conn, person_id, "electronic")
            if not await store.channel_bound(conn, person_id, channel):
                raise ChannelNotBoundError()
            password, _ = await load_state(
                conn,
                self.events,
                passwords.PASSWORD,
                passwords.PASSWORD.stream(subject.key, "electronic"),
            )
        if subject.refusal is not None:
            raise PAYMENT_ERRORS[subject.refusal]()
        if password.locked_at(self.clock()):
            raise PasswordLockedError()  # no code to show that could not be paid with
        return subject.card_id

    async def change(
        self,
        *,
        card_id: str,
        current: str,
        new: str,
        id_number: str | None,
        channel: str,
        causation: Causation,
    ) -> None:
        """Change the password after entering the current one (the initial one at first).

        A new password the policy refuses is refused before the current one is checked (no
        try counted); an allowed one is hashed while the current one is verified (two Argon2
        computations side by side, one per hashing thread)."""
        await self.check_allowed(new, card_id, "physical", id_number)
        hashing = self._hash(new)
        await self._enter(card_id, "physical", current, channel, causation, new_hash=hashing)

    async def recover(
        self,
        *,
        card_id: str,
        proof: Proof,
        kind: CardKind = "physical",
        new: str | None,
        id_number: str | None,
        channel: str,
        causation: Causation,
    ) -> None:
        """Unlock (``new`` is None) or reset, once the holder proved who they are.

        ``card_id`` names a physical card, or for the e-card (``kind`` electronic) its holder.
        """
        hashed = await self.allowed_hash(new, card_id, kind, id_number) if new else None
        if not proof.id_checked:  # online: a recent face check, then the SMS code is spent
            async with self.pool.acquire() as conn:
                await self._check_proof(conn, await self._subject(conn, card_id, kind), proof)
            assert proof.sms_code is not None
            await self.sms.use(proof.person_id, *proof.sms_code)

        async def attempt() -> None:
            async with self.pool.acquire() as conn, conn.transaction():
                subject = await self._subject(conn, card_id, kind)
                await self._check_proof(conn, subject, proof)
                command = passwords.Recover(subject.card_id, kind, channel, reset=new is not None)
                await self._append(conn, subject.key, kind, subject.person_id, command, causation)
                if hashed is not None:
                    await store.store_password_hash(conn, subject.key, kind, hashed)

        await retry_on_conflict(attempt)

    async def _enter(
        self,
        card_id: str,
        kind: CardKind,
        password: str,
        channel: str,
        causation: Causation,
        settlement: Settlement | None = None,
        new_hash: asyncio.Future[str] | None = None,
    ) -> None:
        """Enter the password to settle (``settlement``) or to change it (``new_hash``, being
        computed meanwhile)."""

        async def attempt() -> tuple[list[Envelope], ActivationError | None]:
            # Argon2 is slow on purpose: check the password before the transaction, so that
            # concurrent entries do not hold their transactions open while hashing. A card
            # that may not pay is refused without checking its password.
            async with self.pool.acquire() as conn:
                subject = await self._subject(conn, card_id, kind)
                stored = await store.password_hash(conn, subject.key, kind)
            paying = settlement is not None
            unchecked = paying and subject.refusal is not None
            right = not unchecked and await self._right(stored, password, subject.region)
            hashed = await new_hash if new_hash is not None else None
            async with self.pool.acquire() as conn, conn.transaction():
                if paying:  # settlements of one card take turns: none lost to a conflict
                    await settlements.one_at_a_time(conn, kind, card_id)
                subject = await self._subject(conn, card_id, kind)
                events: list[Envelope] = []
                try:
                    if paying and subject.refusal is not None:
                        raise PAYMENT_ERRORS[subject.refusal]()
                    if unchecked:  # it may pay since the first look: check the password now
                        raise ConcurrencyError(subject.key)
                    if settlement is not None and (
                        bad_code := await settlements.code_refusal(
                            conn, settlement, subject.person_id, subject.card_id
                        )
                    ):
                        raise bad_code
                    if await store.password_hash(conn, subject.key, kind) != stored:
                        raise ConcurrencyError(subject.key)  # changed meanwhile: check again
                    command = passwords.Enter(
                        card_id=subject.card_id,
                        kind=kind,
                        channel=channel,
                        right=right,
                        card_active=subject.active,
                        purpose="settlement" if paying else "change",
                        rule=self.lock_rule(subject.region),
                        at=self.clock(),
                        initial=stored is None,
                    )
                    events = await self._append(
                        conn, subject.key, kind, subject.person_id, command, causation
                    )
                    if hashed is not None and command.right:
                        await store.store_password_hash(conn, subject.key, kind, hashed)
                    refused = _refusal_of(events)
                    if refused is None and settlement is not None:
                        refused = await settlements.use_code(conn, settlement)
                except ActivationError as exc:
                    if not paying:
                        raise
                    refused = exc
                if settlement is not None:
                    recorded = settlements.outcome(subject.card_id, kind, settlement, refused)
                    events += await settlements.record(
                        conn, self.events, subject.key, subject.person_id, recorded, causation
                    )
                return events, refused

        _, refused = await retry_on_conflict(attempt)
        if refused is not None:
            raise refused

    async def allowed_hash(
        self, new: str, key: str, kind: CardKind, id_number: str | None = None
    ) -> str:
        """The Argon2id hash of a new password the policy allows (``check_allowed``)."""
        await self.check_allowed(new, key, kind, id_number)
        return await self._hash(new)

    def _hash(self, new: str) -> asyncio.Future[str]:
        """The Argon2id hash of ``new``, computed in a hashing thread (started now)."""
        return asyncio.get_running_loop().run_in_executor(self.hashing, self.hasher.hash, new)

    async def check_allowed(
        self, new: str, key: str, kind: CardKind, id_number: str | None = None
    ) -> None:
        """Whether the policy allows a new password for the holder of ``key`` (a card id, or
        for the e-card its holder): 6 digits, no repeat or run, and none of the ID number's
        6-digit runs, as identity's facts say (``id_number`` if the caller gave it too).
        Raises PasswordWeakError with the reason otherwise."""
        passwords.check_policy(new, id_number)
        async with self.pool.acquire() as conn:
            holder = key if kind == "electronic" else await store.holder_of(conn, key)
            if holder is None:
                raise CardNotFoundError() if kind == "physical" else ECardNotClaimedError()
            taken = await facts.taken_from_id_number(conn, self.facts, holder, new)
        if taken is None:  # fail closed: the check cannot be made (yet)
            raise PasswordCheckUnavailableError()
        if taken:
            raise PasswordWeakError(passwords.FROM_ID_NUMBER)

    async def _subject(self, conn: Connection, key: str, kind: CardKind) -> Subject:
        """Whose password: a physical card (by card id) or a person's e-card (by person id)."""
        if kind == "physical":
            card = await store.card_facts(conn, key)
            region = await store.card_region(conn, key)
            if card is None or region is None:
                raise CardNotFoundError()
            paying = await self._paying(conn, key, card)
            return Subject(
                key, key, card.person_id, region, paying.active, payment.card_refusal(paying)
            )
        bound = await store.ecard_of(conn, key)
        if bound is None:
            raise ECardNotClaimedError()
        region = await store.card_region(conn, bound) or ""
        ecard = await self._activation(conn, f"ecard-activation-{key}")
        if ecard.active and not ecard.usable_at(self.clock()):
            raise ECardProcessingError()
        card = await store.card_facts(conn, bound)
        if card is None:
            raise CardNotFoundError()
        suspended = await store.ecard_suspension(conn, key)
        refusal = payment.ecard_refusal(
            suspended, ecard.active, await self._paying(conn, bound, card)
        )
        return Subject(f"ecard-{key}", bound, key, region, ecard.active, refusal)

    async def _paying(self, conn: Connection, card_id: str, card: domain.CardFacts) -> PayingCard:
        active = (await self._activation(conn, domain.ACTIVATION.stream(card_id))).active
        return PayingCard(card.status, card.lost, active)

    async def _activation(self, conn: Connection, stream_id: str) -> domain.Activation:
        state, _ = await load_state(conn, self.events, domain.ACTIVATION, stream_id)
        return state

    async def _right(self, stored: str | None, password: str, region: str) -> bool:
        if stored is None:
            return hmac.compare_digest(password.encode(), self.initial_password(region).encode())
        try:
            verify = self.hasher.verify
            return await asyncio.get_running_loop().run_in_executor(
                self.hashing, verify, stored, password
            )
        except VerificationError:
            return False

    async def _check_proof(self, conn: Connection, subject: Subject, proof: Proof) -> None:
        if subject.person_id != proof.person_id:
            raise CardNotHeldError()
        if proof.id_checked:
            return
        if proof.sms_code is None:
            raise SmsCodeRequiredError()
        face_at = await verified.last_face_verification(conn, proof.person_id)
        recent = face_at is not None and self.clock() - face_at <= self.max_verification_age
        if not recent:
            raise RecoveryProofRequiredError()

    async def _append(
        self,
        conn: Connection,
        card_id: str,
        kind: CardKind,
        person_id: str,
        command: passwords.Command,
        causation: Causation,
    ) -> list[Envelope]:
        password = passwords.PASSWORD.at(card_id, kind, person=person_id)
        return await run(conn, self.events, password, command, causation)


def _refusal_of(events: list[Envelope]) -> ActivationError | None:
    """The refusal a password entry ended in, if any."""
    types = {e.event_type for e in events}
    if PasswordLocked.event_type in types:
        return PasswordLockedError()
    if PasswordAttemptFailed.event_type in types:
        return PasswordWrongError()
    return None
