"""A read model several services keep from identity.events: who is verified, at which level.

Each service that needs it keeps its own copy in its own schema (migration
``shared/readmodels/010_verified_persons.sql``); this module is the one way to use it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import cast

from shared.contracts.identity import VerificationLevel
from shared.db import Connection

MIGRATIONS = Path(__file__).parent / "readmodels"

#: The read model's content (for rebuild digests).
COLUMNS = ("person_id", "level", "real_person_at")


#: A verification level never goes down: real_person stays once reached.
_UPSERT = (
    "INSERT INTO verified_persons (person_id, level, real_person_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (person_id) DO UPDATE SET updated_at = now(), level ="
    " CASE WHEN verified_persons.level = 'real_person' THEN 'real_person' ELSE EXCLUDED.level END,"
    " real_person_at = greatest(verified_persons.real_person_at, EXCLUDED.real_person_at)"
)


async def record_verification(
    conn: Connection, person_id: str, level: str, verified_at: datetime | None = None
) -> None:
    """Remember that identity verified a person (and when, for a face verification)."""
    await conn.execute(_UPSERT, person_id, level, verified_at if level == "real_person" else None)


async def last_face_verification(conn: Connection, person_id: str) -> datetime | None:
    """When the person last passed a real-person verification, if ever."""
    at: datetime | None = await conn.fetchval(
        "SELECT real_person_at FROM verified_persons WHERE person_id = $1", person_id
    )
    return at


async def verification_level(conn: Connection, person_id: str) -> VerificationLevel | None:
    """The best level the person reached, or None."""
    level = await conn.fetchval(
        "SELECT level FROM verified_persons WHERE person_id = $1", person_id
    )
    return cast(VerificationLevel | None, level)


async def forget(conn: Connection, person_id: str) -> None:
    """The person's data was erased: they are verified no more (nothing new is done for them
    on the strength of an old verification)."""
    await conn.execute("DELETE FROM verified_persons WHERE person_id = $1", person_id)
