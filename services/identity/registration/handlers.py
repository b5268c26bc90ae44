"""Registering insured persons: one by one from a window, or a province's file at once.

A file is checked row by row first; unless partial imports are asked for, one rejected row
means nothing is written. What is written is written in one transaction. Registering a
person again with the same details changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.identity import store
from services.identity.errors import (
    GuardianInvalidError,
    IdentityError,
    PersonalDataErasedError,
    PersonAlreadyRegisteredError,
)
from services.identity.registration.domain import Registration, parse_registration
from services.identity.registration.rows import (
    DuplicateRowError,
    ImportReport,
    Row,
    RowRejected,
)
from services.identity.registration.sealing import (
    Planned,
    Sealed,
    SealJob,
    registered,
    same_details,
    seal_rows,
)
from services.identity.vault import Vault
from shared import tracing
from shared.claims import current_claim, mark_unnamed
from shared.db import Connection
from shared.envelope import new_event_id
from shared.eventstore import Causation, ConcurrencyError, EventStore
from shared.privacy import keyed_hash

CHUNK = 5_000


_pauses = 0


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector waits while imports run: it would walk every object an import
    holds, again and again (15% of an import's time, measured); it runs when the last ends."""
    global _pauses
    if _pauses == 0:
        gc.disable()
    _pauses += 1
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0:
            gc.enable()


@dataclass(frozen=True)
class RegistrationHandlers:
    """Registers persons, given its ports."""

    pool: asyncpg.Pool
    events: EventStore
    vault: Vault
    hash_key: str
    clock: Callable[[], datetime]

    def _hash(self, id_number: str) -> str:
        return keyed_hash(self.hash_key, id_number)

    async def import_rows(
        self,
        rows: Iterable[Row],
        causation: Causation,
        *,
        partial: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Check every row, then register the new persons in one transaction."""
        with _collector_paused():
            return await self._import(rows, causation, partial, progress)

    async def _import(
        self,
        rows: Iterable[Row],
        causation: Causation,
        partial: bool,
        progress: Callable[[int], None] | None,
    ) -> ImportReport:
        report = ImportReport()
        # Checking is CPU work: in a thread, the service answers meanwhile (health, others).
        checked = await asyncio.to_thread(self._check, rows, report)
        async with self.pool.acquire() as conn:
            plan = await self._plan(conn, checked, report)
        if report.rejected and not partial:
            return report
        people = [
            (registration, person_id, guardian) for _, registration, person_id, guardian in plan
        ]
        try:
            if len(people) >= POOLED_FROM and SEALERS > 1:
                await self._write_pooled(people, causation, progress)
            else:
                async with self.pool.acquire() as conn, conn.transaction():
                    for start in range(0, len(people), CHUNK):
                        chunk = people[start : start + CHUNK]
                        await self._write(conn, chunk, causation)
                        if progress:
                            progress(len(chunk))
        except asyncpg.UniqueViolationError as exc:
            # Someone registered one of these persons at the same moment: nothing was written.
            raise ConcurrencyError("persons") from exc
        report.registered = len(plan)
        report.person_ids.update({line: person_id for line, _, person_id, _ in plan})
        report.committed = True
        return report

    def _check(self, rows: Iterable[Row], report: ImportReport) -> list[tuple[int, Registration]]:
        today = self.clock().date()
        seen: set[str] = set()
        checked: list[tuple[int, Registration]] = []
        for line, fields in rows:
            report.rows += 1
            if isinstance(fields, IdentityError):
                report.rejected.append(RowRejected(line, fields))
                continue
            try:
                registration = parse_registration(
                    name=fields.get("name", ""),
                    id_number=fields.get("id_number", ""),
                    phone=fields.get("phone") or None,
                    region=fields.get("region", ""),
                    guardian_id_number=fields.get("guardian_id_number") or None,
                    today=today,
                )
                if registration.id_number.value in seen:
                    raise DuplicateRowError()
            except IdentityError as exc:
                report.rejected.append(RowRejected(line, exc))
                continue
            seen.add(registration.id_number.value)
            checked.append((line, registration))
        return checked

    async def _plan(
        self,
        conn: Connection,
        checked: Sequence[tuple[int, Registration]],
        report: ImportReport,
    ) -> list[tuple[int, Registration, str, str | None]]:
        hashes = {self._hash(r.id_number.value) for _, r in checked}
        hashes |= {
            self._hash(r.guardian_id_number.value) for _, r in checked if r.guardian_id_number
        }
        known: dict[str, store.StoredPerson] = {}
        ordered = sorted(hashes)
        for start in range(0, len(ordered), CHUNK):
            known.update(await store.find_people(conn, ordered[start : start + CHUNK]))
        planned: dict[str, str] = {}  # hash -> person id of persons registered by this import
        plan: list[tuple[int, Registration, str, str | None]] = []
        # Guardians first: a child's row may come before its guardian's.
        for line, registration in sorted(
            checked, key=lambda lr: lr[1].guardian_id_number is not None
        ):
            own_hash = self._hash(registration.id_number.value)
            try:
                if (existing := known.get(own_hash)) is not None:
                    self._check_unchanged(existing, registration)
                    report.unchanged += 1
                    report.person_ids[line] = existing.person_id
                    continue
                guardian = self._guardian(registration, known, planned)
            except IdentityError as exc:
                report.rejected.append(RowRejected(line, exc))
                continue
            person_id = str(new_event_id())
            planned[own_hash] = person_id
            plan.append((line, registration, person_id, guardian))
        report.rejected.sort(key=lambda r: r.line)
        return plan

    def _check_unchanged(self, existing: store.StoredPerson, registration: Registration) -> None:
        if existing.erased or existing.wrapped_key is None:
            raise PersonalDataErasedError()
        key = self.vault.unwrap(existing.person_id, existing.wrapped_key)
        if existing.region != registration.region or not same_details(
            existing.name_ciphertext,
            existing.phone_ciphertext,
            key,
            existing.person_id,
            registration,
        ):
            raise PersonAlreadyRegisteredError()

    def _guardian(
        self,
        registration: Registration,
        known: dict[str, store.StoredPerson],
        planned: dict[str, str],
    ) -> str | None:
        if registration.guardian_id_number is None:
            return None
        guardian_hash = self._hash(registration.guardian_id_number.value)
        if guardian_hash in planned:
            return planned[guardian_hash]
        guardian = known.get(guardian_hash)
        if guardian is None or guardian.erased:
            raise GuardianInvalidError("The guardian must be registered first.")
        return guardian.person_id

    async def _write(
        self, conn: Connection, people: Sequence[Planned], causation: Causation
    ) -> None:
        keys, envelopes = registered(people, self.vault, self.hash_key, causation, self.events)
        await self.events.append(conn, envelopes, causation.who)
        await store.store_keys(conn, keys)
        await store.project_people(conn, envelopes)

    async def _write_pooled(
        self,
        people: Sequence[Planned],
        causation: Causation,
        progress: Callable[[int], None] | None,
    ) -> None:
        """A large import: sealed in worker processes, share by share, while the shares
        sealed already are written (in one transaction, in order)."""
        loop = asyncio.get_running_loop()
        trace = tracing.of_cause(causation.causation_id)
        shares = [
            SealJob(list(people[i : i + SHARE]), self.vault, self.hash_key, causation, trace)
            for i in range(0, len(people), SHARE)
        ]
        sealing: deque[asyncio.Future[Sealed]] = deque()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                for n, share in enumerate(shares):
                    # A few shares ahead of the writes: the workers never wait, and sealed
                    # rows do not pile up in memory.
                    while len(sealing) < AHEAD * SEALERS and n + len(sealing) < len(shares):
                        job = shares[n + len(sealing)]
                        sealing.append(loop.run_in_executor(_sealers(), seal_rows, job))
                    sealed = await sealing.popleft()
                    await self.events.copy_rows(conn, sealed.rows)
                    await store.store_keys(conn, sealed.keys)
                    await store.write_persons(conn, sealed.persons)
                    if progress:
                        progress(len(share.people))
                # Sent with an Idempotency-Key: it took effect (the events are too many to name).
                await mark_unnamed(conn, current_claim())
        finally:
            for pending in sealing:
                pending.cancel()


#: Imports of this many new persons are sealed in worker processes.
POOLED_FROM = 2_000
#: Persons per share of a pooled import.
SHARE = 1_000
#: Shares sealed ahead of the writes, per worker.
AHEAD = 2
#: Worker processes that seal imports: one per core.
SEALERS = os.cpu_count() or 1


@functools.cache
def _sealers() -> ProcessPoolExecutor:
    """The process's sealing workers, started at its first large import (spawned: a fork of
    a process running threads and an event loop is not safe)."""
    return ProcessPoolExecutor(SEALERS, mp_context=multiprocessing.get_context("spawn"))
