"""Facts identity shares with the card and activation services without the personal data
behind them (identity's ``PersonFactsIssued``), and the read model each keeps of them.

- **Password windows**: a keyed hash of every 6-digit run of the person's ID number, bound to
  the person. Activation hashes a new password the same way and refuses it when it matches,
  so a password taken from the ID number is refused without the ID number leaving identity.
- **Photo exemption**: the day the person turns 7 (no photo is needed for a card before it),
  sealed with AES-256-GCM and bound to the person: the card service reads it, integrators
  who read the event do not learn a child's birth date.

Both are derived (HKDF-SHA256) from a facts key that identity, card and activation share
(``SHEBAO_FACTS_KEYS``, newest first). The event names its key id, so older facts stay
readable after a rotation; identity issues facts again under the newest key at the next
verification. Whoever holds the key can test guesses of 6 digits, so it is a secret of those
three services alone, like identity's hash key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.contracts.identity import PersonFactsIssued
from shared.db import Connection
from shared.privacy import UnreadableError, open_sealed, seal

#: A development key (32 zero bytes); refused outside development.
DEV_KEY_ID = "dev"
DEV_KEY = bytes(32)
#: The age from which a card needs a photo.
PHOTO_AGE = 7
#: Hex characters kept of each window's HMAC (128 bits).
_DIGEST_CHARS = 32

#: The read model's content (for rebuild digests).
COLUMNS = ("person_id", "key_id", "password_windows", "photo_exempt_until")


def parse_keys(
    configured: Mapping[str, str], *, production: bool, setting: str = "SHEBAO_FACTS_KEYS"
) -> dict[str, bytes]:
    """The shared keys of a setting (key id -> base64 of 32 random bytes, newest first), or
    a ValueError saying what is wrong with it. Empty outside production: the development key."""
    if not configured:
        if production:
            raise ValueError(f"production needs {setting}")
        return {DEV_KEY_ID: DEV_KEY}
    keys: dict[str, bytes] = {}
    for kid, value in configured.items():
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError(f"{setting} key {kid} is not base64") from None
        if len(raw) != 32 or raw == DEV_KEY:
            raise ValueError(f"{setting} key {kid} must be 32 random bytes")
        keys[kid] = raw
    return keys


@dataclass(frozen=True)
class FactsKeys:
    """The shared facts keys, by id; the first one is current."""

    keys: Mapping[str, bytes]

    @classmethod
    def from_settings(
        cls,
        configured: Mapping[str, str],
        *,
        production: bool,
        setting: str = "SHEBAO_FACTS_KEYS",
    ) -> FactsKeys:
        """The keys of a setting such as ``SHEBAO_FACTS_KEYS`` (see ``parse_keys``)."""
        return cls(parse_keys(configured, production=production, setting=setting))

    @property
    def current(self) -> str:
        """The id of the key new facts are issued under."""
        return next(iter(self.keys))

    def knows(self, kid: str) -> bool:
        """Whether facts issued under ``kid`` can be read here."""
        return kid in self.keys

    def digest(self, kid: str, person_id: str, six_digits: str) -> str:
        """The keyed hash of a 6-digit string for one person."""
        mac = hmac.new(
            _derived(self.keys[kid], "windows"), f"{person_id}:{six_digits}".encode(), sha256
        )
        return mac.hexdigest()[:_DIGEST_CHARS]

    def password_windows(self, person_id: str, id_number: str) -> list[str]:
        """The keyed hashes (current key) of every 6-digit run of the ID number, sorted."""
        runs = {id_number[i : i + 6] for i in range(len(id_number) - 5)}
        return sorted(self.digest(self.current, person_id, run) for run in runs if run.isdigit())

    def seal(self, person_id: str, field: str, value: str) -> str:
        """``value`` sealed under the current key, bound to the person and the field."""
        aead = AESGCM(_derived(self.keys[self.current], "sealed"))
        return base64.b64encode(seal(aead, value.encode(), f"{person_id}:{field}")).decode()

    def open(self, kid: str, person_id: str, field: str, sealed: str) -> str:
        """Open what ``seal`` sealed (UnreadableError if it cannot be)."""
        aead = AESGCM(_derived(self.keys[kid], "sealed"))
        try:
            raw = base64.b64decode(sealed, validate=True)
        except ValueError as exc:
            raise UnreadableError(field) from exc
        return open_sealed(aead, raw, f"{person_id}:{field}").decode()

    def mac(self, kid: str, purpose: str, value: str) -> str:
        """A keyed hash (HMAC-SHA256, hex) of ``value`` for one purpose."""
        return hmac.new(_derived(self.keys[kid], purpose), value.encode(), sha256).hexdigest()

    def seal_photo_exempt_until(self, person_id: str, day: date) -> str:
        """The day the person turns 7, sealed under the current key for this person."""
        return self.seal(person_id, "photo_exempt_until", day.isoformat())

    def photo_exempt_until(self, kid: str, person_id: str, sealed: str) -> date:
        """Open what ``seal_photo_exempt_until`` sealed (UnreadableError if it cannot be)."""
        return date.fromisoformat(self.open(kid, person_id, "photo_exempt_until", sealed))


@lru_cache(maxsize=64)
def _derived(key: bytes, purpose: str) -> bytes:
    """A key for one purpose, derived from a facts key (HKDF-SHA256)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"shebao {purpose}".encode())
    return hkdf.derive(key)


def turns(birth: date, years: int) -> date:
    """The day someone born on ``birth`` turns ``years`` (29 February: 1 March)."""
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:
        return date(birth.year + years, 3, 1)


@dataclass(frozen=True)
class StoredFacts:
    """What a service learned of a person's facts."""

    key_id: str
    password_windows: frozenset[str]
    photo_exempt_until: str


async def record_facts(conn: Connection, person_id: str, issued: PersonFactsIssued) -> None:
    """Remember the facts identity issued for a person (the latest issue wins)."""
    await conn.execute(
        "INSERT INTO person_facts (person_id, key_id, password_windows, photo_exempt_until)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (person_id) DO UPDATE SET key_id = $2,"
        " password_windows = $3, photo_exempt_until = $4, updated_at = now()",
        person_id,
        issued.key_id,
        issued.password_windows,
        issued.photo_exempt_until,
    )


async def forget_facts(conn: Connection, person_id: str) -> None:
    """The person's data was erased: their facts go with it."""
    await conn.execute("DELETE FROM person_facts WHERE person_id = $1", person_id)


async def load_facts(conn: Connection, person_id: str) -> StoredFacts | None:
    """The facts known of a person, if identity issued any."""
    row = await conn.fetchrow(
        "SELECT key_id, password_windows, photo_exempt_until FROM person_facts"
        " WHERE person_id = $1",
        person_id,
    )
    if row is None:
        return None
    return StoredFacts(row["key_id"], frozenset(row["password_windows"]), row["photo_exempt_until"])


async def photo_exempt(conn: Connection, keys: FactsKeys, person_id: str, today: date) -> bool:
    """Whether identity's facts say the person is under 7 ``today``. Without readable facts
    (none issued yet, or under a key not held here) a photo is needed."""
    facts = await load_facts(conn, person_id)
    if facts is None or not keys.knows(facts.key_id):
        return False
    try:
        until = keys.photo_exempt_until(facts.key_id, person_id, facts.photo_exempt_until)
    except (UnreadableError, ValueError):
        return False
    return today < until


async def taken_from_id_number(
    conn: Connection, keys: FactsKeys, person_id: str, password: str
) -> bool | None:
    """Whether identity's facts say ``password`` is a 6-digit run of the person's ID number;
    None when they cannot say (no facts issued, erased, or under a key not held here)."""
    facts = await load_facts(conn, person_id)
    if facts is None or not keys.knows(facts.key_id):
        return None
    return keys.digest(facts.key_id, person_id, password) in facts.password_windows
