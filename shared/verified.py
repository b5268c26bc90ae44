"""A read model several services keep from identity.events: who is verified, at which level.

Each service that needs it keeps its own copy in its own schema (migration
``shared/readmodels/010_verified_persons.sql``); this module is the one way to use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

from shared.db import Connection

MIGRATIONS = Path(__file__).parent / "readmodels"

#: The read model's content (for rebuild digests).
COLUMNS = ("person_id", "level")

VerificationLevel = Literal["real_name", "real_person"]

#: A verification level never goes down: real_person stays once reached.
_UPSERT = (
    "INSERT INTO verified_persons (person_id, level) VALUES ($1, $2)"
    " ON CONFLICT (person_id) DO UPDATE SET updated_at = now(), level ="
    " CASE WHEN verified_persons.level = 'real_person' THEN 'real_person' ELSE EXCLUDED.level END"
)


async def record_verification(conn: Connection, person_id: str, level: str) -> None:
    """Remember that identity verified a person."""
    await conn.execute(_UPSERT, person_id, level)


async def verification_level(conn: Connection, person_id: str) -> VerificationLevel | None:
    """The best level the person reached, or None."""
    level = await conn.fetchval(
        "SELECT level FROM verified_persons WHERE person_id = $1", person_id
    )
    return cast(VerificationLevel | None, level)
