"""Identity's own tables: the registry projection, person keys, used face-check nonces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.consumer import ForeignFeed
from shared.contracts.identity import PersonalDataErased, PersonRegistered
from shared.db import Connection
from shared.envelope import Envelope
from shared.eventstore import BULK_ROWS
from shared.rebuild import Projection

PERSON_COLUMNS = (
    "person_id",
    "id_number_hash",
    "region",
    "masked_id_number",
    "guardian_person_id",
    "name_ciphertext",
    "id_number_ciphertext",
    "birth_date_ciphertext",
    "phone_ciphertext",
    "erased",
)
_INSERT_PERSONS = (
    f"INSERT INTO persons ({', '.join(PERSON_COLUMNS)}) SELECT * FROM unnest("  # noqa: S608
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
    " $8::text[], $9::text[], $10::boolean[])"
)


#: A held card's statuses, in the order they are reached.
CARD_STATUSES = ("applied", "produced", "mailed", "active")
RANK = {status: n for n, status in enumerate(CARD_STATUSES)}
_ORDER = "ARRAY[" + ", ".join(f"'{status}'" for status in CARD_STATUSES) + "]"
#: card.events and activation.events are two topics, so their events about one card may
#: arrive in either order: a status only ever moves forward. (Constants only in the text.)
_UPSERT = (
    "INSERT INTO held_cards (card_id, person_id, status)"  # noqa: S608
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
    " ON CONFLICT (card_id) DO UPDATE SET status = EXCLUDED.status"
    f" WHERE array_position({_ORDER}, EXCLUDED.status)"
    f" > array_position({_ORDER}, held_cards.status)"
)


async def remember_cards(
    conn: Connection, card_ids: list[str], holders: list[str], statuses: list[str]
) -> None:
    """Each card's holder and status, a status never moving back."""
    await conn.execute(_UPSERT, card_ids, holders, statuses)


@dataclass(frozen=True)
class StoredPerson:
    """A registered person as stored: ciphertexts, and the wrapped key unless erased."""

    person_id: str
    region: str
    guardian_person_id: str | None
    name_ciphertext: str | None
    phone_ciphertext: str | None
    wrapped_key: bytes | None
    erased: bool


async def find_person(conn: Connection, id_number_hash: str) -> StoredPerson | None:
    """The registered person with this ID number hash, or None."""
    row = await conn.fetchrow(
        "SELECT p.person_id, p.region, p.guardian_person_id, p.name_ciphertext,"
        " p.phone_ciphertext, k.wrapped_key, p.erased FROM persons p"
        " LEFT JOIN person_keys k USING (person_id) WHERE p.id_number_hash = $1",
        id_number_hash,
    )
    return StoredPerson(**dict(row)) if row else None


async def find_people(conn: Connection, hashes: Sequence[str]) -> dict[str, StoredPerson]:
    """Registered persons by ID number hash (for bulk imports)."""
    rows = await conn.fetch(
        "SELECT p.id_number_hash, p.person_id, p.region, p.guardian_person_id,"
        " p.name_ciphertext, p.phone_ciphertext, k.wrapped_key, p.erased FROM persons p"
        " LEFT JOIN person_keys k USING (person_id) WHERE p.id_number_hash = ANY($1::text[])",
        list(hashes),
    )
    return {
        r["id_number_hash"]: StoredPerson(**{k: v for k, v in r.items() if k != "id_number_hash"})
        for r in rows
    }


async def sealed_id_number(conn: Connection, person_id: str) -> tuple[bytes, str] | None:
    """A registered person's wrapped key and ID number ciphertext; None if erased or unknown."""
    row = await conn.fetchrow(
        "SELECT k.wrapped_key, p.id_number_ciphertext FROM persons p"
        " JOIN person_keys k USING (person_id)"
        " WHERE p.person_id = $1 AND NOT p.erased AND p.id_number_ciphertext IS NOT NULL",
        person_id,
    )
    return (row["wrapped_key"], row["id_number_ciphertext"]) if row else None


async def registered_person_ids(conn: Connection, after: str, limit: int) -> list[str]:
    """Person ids of registered persons not erased, in order, after ``after`` (paging)."""
    rows = await conn.fetch(
        "SELECT person_id FROM persons WHERE NOT erased AND person_id > $1"
        " ORDER BY person_id LIMIT $2",
        after,
        limit,
    )
    return [r["person_id"] for r in rows]


async def without_facts(conn: Connection, streams: list[str], key_id: str) -> set[str]:
    """Of these person streams, those with no PersonFactsIssued under ``key_id``."""
    rows = await conn.fetch(
        "SELECT s FROM unnest($1::text[]) AS s WHERE NOT EXISTS (SELECT 1 FROM events"
        " WHERE stream_id = s AND event_type = 'PersonFactsIssued'"
        " AND envelope->'payload'->>'key_id' = $2)",
        streams,
        key_id,
    )
    return {r["s"] for r in rows}


async def holds_card(conn: Connection, person_id: str) -> bool:
    """Whether the person holds, or is being issued, a card (from card events)."""
    held = await conn.fetchval("SELECT count(*) FROM held_cards WHERE person_id = $1", person_id)
    return bool(held)


async def destroy_key(conn: Connection, person_id: str) -> None:
    """Crypto-shredding: without the key no ciphertext of the person can be read again."""
    await conn.execute("DELETE FROM person_keys WHERE person_id = $1", person_id)


async def store_keys(conn: Connection, keys: Sequence[tuple[str, bytes]]) -> None:
    """Keep new persons' wrapped keys."""
    if len(keys) >= BULK_ROWS:
        await conn.copy_records_to_table("person_keys", records=keys)
        return
    # A few (a window's registration): one round trip, where COPY takes several.
    await conn.execute(
        "INSERT INTO person_keys SELECT * FROM unnest($1::text[], $2::bytea[])",
        *(list(column) for column in zip(*keys, strict=True)),
    )


async def use_face_nonce(conn: Connection, provider: str, nonce: str) -> bool:
    """Mark a face-check result used; False when it was used before (a replay)."""
    inserted = await conn.fetchval(
        "INSERT INTO face_check_nonces (provider, nonce) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        provider,
        nonce,
    )
    return bool(inserted)


async def project_people(conn: Connection, envelopes: Sequence[Envelope]) -> None:
    """Keep the registry in step with the identity events just appended (or replayed)."""
    await write_persons(
        conn, [person_row(e) for e in envelopes if e.event_type == PersonRegistered.event_type]
    )
    for e in envelopes:
        if e.event_type == PersonalDataErased.event_type:
            await conn.execute(
                "UPDATE persons SET erased = true, name_ciphertext = NULL,"
                " id_number_ciphertext = NULL, birth_date_ciphertext = NULL,"
                " phone_ciphertext = NULL WHERE person_id = $1",
                e.person_id,
            )


async def write_persons(conn: Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Add registered persons to the registry (``person_row``'s rows)."""
    if len(rows) >= BULK_ROWS:
        await conn.copy_records_to_table("persons", records=rows, columns=PERSON_COLUMNS)
    elif rows:
        await conn.execute(_INSERT_PERSONS, *(list(c) for c in zip(*rows, strict=True)))


def person_row(e: Envelope) -> tuple[object, ...]:
    """The registry's row of a PersonRegistered event."""
    p = e.payload
    return (
        e.person_id,
        p["id_number_hash"],
        p["region"],
        p["masked_id_number"],
        p["guardian_person_id"],
        p["name_ciphertext"],
        p["id_number_ciphertext"],
        p["birth_date_ciphertext"],
        p["phone_ciphertext"],
        False,
    )


async def project_person(conn: Connection, envelope: Envelope) -> None:
    """Rebuild step: one identity event into the registry."""
    await project_people(conn, [envelope])


def projection(feed: ForeignFeed) -> Projection:
    """Identity's derived state: the registry (own events) and held cards (card events)."""
    return Projection(
        tables={"persons": PERSON_COLUMNS, "held_cards": ("card_id", "person_id", "status")},
        apply_own=project_person,
        foreign=feed,
    )


async def region_of(conn: Connection, person_id: str) -> str | None:
    """A registered person's insured region."""
    region: str | None = await conn.fetchval(
        "SELECT region FROM persons WHERE person_id = $1", person_id
    )
    return region
