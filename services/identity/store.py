"""Identity's own tables: the person index and used face-check nonces."""

from __future__ import annotations

from shared.contracts import IdentityVerified
from shared.db import Connection
from shared.envelope import Envelope, new_event_id
from shared.rebuild import Projection


async def person_id_for(conn: Connection, id_number_hash: str) -> str:
    """The person id of an ID number's hash, allocated on first sight."""
    fresh = str(new_event_id())
    await conn.execute(
        "INSERT INTO person_index (id_number_hash, person_id) VALUES ($1, $2)"
        " ON CONFLICT (id_number_hash) DO NOTHING",
        id_number_hash,
        fresh,
    )
    person_id: str = await conn.fetchval(
        "SELECT person_id FROM person_index WHERE id_number_hash = $1", id_number_hash
    )
    return person_id


async def use_face_nonce(conn: Connection, provider: str, nonce: str) -> bool:
    """Mark a face-check result used; False when it was used before (a replay)."""
    inserted = await conn.fetchval(
        "INSERT INTO face_check_nonces (provider, nonce) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        provider,
        nonce,
    )
    return bool(inserted)


async def index_person(conn: Connection, envelope: Envelope) -> None:
    """Rebuild step: an IdentityVerified event says which person an ID number's hash is."""
    if envelope.event_type == IdentityVerified.event_type:
        await conn.execute(
            "INSERT INTO person_index (id_number_hash, person_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            envelope.payload["id_number_hash"],
            envelope.person_id,
        )


PROJECTION = Projection(
    tables={"person_index": ("id_number_hash", "person_id")}, apply_own=index_person
)
