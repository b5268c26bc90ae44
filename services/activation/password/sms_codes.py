"""One-time SMS codes for password recovery (domain: 6 digits, valid 5 minutes, single use, at
most 5 attempts, stored only as a keyed hash, sent as a required message).

The activation service issues a code and records ``SmsCodeIssued`` with the code sealed for
the notification service (``SHEBAO_MESSAGE_KEYS``), which sends it by SMS; here only an
HMAC of it is kept. Recovery online then needs the code back, with a recent face check.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.activation.errors import (
    SmsCodeExpiredError,
    SmsCodeLockedError,
    SmsCodeTooSoonError,
    SmsCodeUsedError,
    SmsCodeWrongError,
)
from shared.aggregate import retry_on_conflict
from shared.contracts.activation import SmsCodeIssued
from shared.eventstore import Causation, EventStore
from shared.facts import FactsKeys

LIFE = timedelta(minutes=5)
ATTEMPTS = 5
#: At most one code a minute for a person.
SPACING = timedelta(minutes=1)
_PURPOSE = "shebao sms code"


def code_stream(code_id: str) -> str:
    """The stream of one code (issued once, never changed: its uses are kept here only)."""
    return f"sms-code-{code_id}"


@dataclass(frozen=True)
class IssuedCode:
    """What the caller learns: which code to send back, until when (never the code)."""

    code_id: str
    expires_at: datetime


@dataclass(frozen=True)
class SmsCodes:
    """Issuing and using one-time codes, given their ports."""

    pool: asyncpg.Pool
    events: EventStore
    keys: FactsKeys
    clock: Callable[[], datetime]

    async def issue(self, person_id: str, causation: Causation) -> IssuedCode:
        """A new code for the person, sealed into ``SmsCodeIssued`` for the SMS."""
        now = self.clock()
        code = f"{secrets.randbelow(10**6):06d}"
        code_id = str(uuid.uuid4())
        kid = self.keys.current
        event = SmsCodeIssued(
            code_id=code_id,
            purpose="password_recovery",
            expires_at=now + LIFE,
            key_id=kid,
            sealed_code=self.keys.seal(person_id, f"sms_code:{code_id}", code),
        )

        async def attempt() -> None:
            async with self.pool.acquire() as conn, conn.transaction():
                # One request at a time per person, and at most one code a minute.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", person_id)
                last = await conn.fetchval(
                    "SELECT max(issued_at) FROM sms_codes WHERE person_id = $1", person_id
                )
                if last is not None and now - last < SPACING:
                    raise SmsCodeTooSoonError()
                # A new code replaces the one before: only the latest works.
                await conn.execute(
                    "UPDATE sms_codes SET used_at = $2 WHERE person_id = $1 AND used_at IS NULL",
                    person_id,
                    now,
                )
                await conn.execute(
                    "INSERT INTO sms_codes (code_id, person_id, purpose, code_hash, key_id,"
                    " expires_at, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    code_id,
                    person_id,
                    event.purpose,
                    self._hash(kid, code_id, code),
                    kid,
                    event.expires_at,
                    now,
                )
                envelopes = self.events.envelopes(
                    code_stream(code_id), 0, person_id, [event], causation
                )
                await self.events.append(conn, envelopes, causation.who)

        await retry_on_conflict(attempt)
        return IssuedCode(code_id, event.expires_at)

    async def use(self, person_id: str, code_id: str, code: str) -> None:
        """Spend a code on a recovery, or say why not. A wrong try counts, and is kept even
        though the recovery is refused."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT code_hash, key_id, expires_at, attempts, used_at FROM sms_codes"
                " WHERE code_id = $1 AND person_id = $2 FOR UPDATE",
                code_id,
                person_id,
            )
            if row is None:
                raise SmsCodeWrongError()
            if row["used_at"] is not None:
                raise SmsCodeUsedError()
            if row["attempts"] >= ATTEMPTS:
                raise SmsCodeLockedError()
            if self.clock() >= row["expires_at"]:
                raise SmsCodeExpiredError()
            expected = row["code_hash"]
            right = self.keys.knows(row["key_id"]) and hmac.compare_digest(
                expected, self._hash(row["key_id"], code_id, code)
            )
            if not right:
                await conn.execute(
                    "UPDATE sms_codes SET attempts = attempts + 1 WHERE code_id = $1", code_id
                )
                wrong = SmsCodeWrongError() if row["attempts"] + 1 < ATTEMPTS else None
            else:
                await conn.execute(
                    "UPDATE sms_codes SET used_at = $2 WHERE code_id = $1", code_id, self.clock()
                )
                return
        raise wrong or SmsCodeLockedError()

    def _hash(self, kid: str, code_id: str, code: str) -> str:
        return self.keys.mac(kid, _PURPOSE, f"{code_id}:{code}")
