"""The insured-person registry on the real database: imports, re-imports, encryption at rest."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from deploy.demo.citizens import fake_citizen, make_id_number
from deploy.stack import Infrastructure
from services.identity.app import MIGRATIONS
from services.identity.registration.handlers import POOLED_FROM, RegistrationHandlers
from services.identity.registration.rows import Row
from services.identity.vault import Vault, decrypt_field
from shared.envelope import utc_now
from shared.eventstore import Causation, EventStore
from tests.service.schemas import schema_pool

CAUSE = Causation("test", "test")


@pytest.fixture
async def pool(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(infra, "registry", *MIGRATIONS) as pool:
        yield pool


@pytest.fixture
def registrar(pool: asyncpg.Pool) -> RegistrationHandlers:
    return RegistrationHandlers(pool, EventStore("identity"), Vault(b"k" * 32), "h" * 32, utc_now)


def rows(*records: dict[str, str]) -> list[Row]:
    return [(n, record) for n, record in enumerate(records, start=2)]


def people(count: int, seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [fake_citizen(rng).registration() for _ in range(count)]


async def test_an_import_registers_everyone_once(
    registrar: RegistrationHandlers, pool: asyncpg.Pool
) -> None:
    records = people(300)
    report = await registrar.import_rows(rows(*records), CAUSE)
    assert (report.committed, report.registered, report.rejected) == (True, 300, [])
    again = await registrar.import_rows(rows(*records), CAUSE)
    assert (again.registered, again.unchanged) == (0, 300)
    assert await pool.fetchval("SELECT count(*) FROM events") == 300
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 300


async def test_one_bad_row_and_nothing_is_imported(
    registrar: RegistrationHandlers, pool: asyncpg.Pool
) -> None:
    records = people(5)
    records[3] = records[3] | {"id_number": records[3]["id_number"][:-1] + "Y"}
    report = await registrar.import_rows(rows(*records), CAUSE)
    assert not report.committed
    assert [(r.line, r.error.code) for r in report.rejected] == [(5, "ID_NUMBER_FORMAT")]
    assert await pool.fetchval("SELECT count(*) FROM events") == 0
    partial = await registrar.import_rows(rows(*records), CAUSE, partial=True)
    assert (partial.committed, partial.registered) == (True, 4)


async def test_other_details_for_a_registered_person_are_refused(
    registrar: RegistrationHandlers,
) -> None:
    [record] = people(1)
    await registrar.import_rows(rows(record), CAUSE)
    report = await registrar.import_rows(rows(record | {"phone": "13900000000"}), CAUSE)
    assert [r.error.code for r in report.rejected] == ["PERSON_ALREADY_REGISTERED"]


async def test_a_child_may_come_before_its_guardian(
    registrar: RegistrationHandlers, pool: asyncpg.Pool
) -> None:
    [guardian] = people(1, seed=2)
    child_id = make_id_number(random.Random(3), "110105", utc_now().date().replace(year=2018))
    child = {"name": "王小明", "id_number": child_id, "region": "110105"}
    orphan = await registrar.import_rows(rows(child), CAUSE)
    assert [r.error.code for r in orphan.rejected] == ["GUARDIAN_REQUIRED"]
    with_guardian = child | {"guardian_id_number": guardian["id_number"]}
    report = await registrar.import_rows(rows(with_guardian, guardian), CAUSE)
    assert report.registered == 2
    linked = await pool.fetchval(
        "SELECT count(*) FROM persons c JOIN persons g ON c.guardian_person_id = g.person_id"
    )
    assert linked == 1


async def test_no_personal_data_is_stored_in_clear(
    registrar: RegistrationHandlers, pool: asyncpg.Pool
) -> None:
    records = people(20, seed=4)
    await registrar.import_rows(rows(*records), CAUSE)
    dump = ""
    for table in ("events", "outbox", "persons", "person_keys"):
        dump += "".join(str(r) for r in await pool.fetch(f"SELECT * FROM {table}"))  # noqa: S608
    dump += await pool.fetchval("SELECT string_agg(convert_from(value, 'UTF8'), '') FROM outbox")
    for record in records:
        for field in ("name", "id_number", "phone"):
            assert record[field] not in dump, field


async def test_a_large_import_is_sealed_in_worker_processes_and_written_whole(
    registrar: RegistrationHandlers, pool: asyncpg.Pool
) -> None:
    records = people(POOLED_FROM + 500, seed=5)
    # A child at the top of the file, its guardian in the last share.
    child_id = make_id_number(random.Random(6), "110105", utc_now().date().replace(year=2019))
    child = {"name": "李小红", "id_number": child_id, "region": "110105"}
    child |= {"guardian_id_number": records[-1]["id_number"]}
    shares: list[int] = []
    report = await registrar.import_rows(rows(child, *records), CAUSE, progress=shares.append)
    assert (report.committed, report.registered, report.rejected) == (True, len(records) + 1, [])
    assert sum(shares) == len(records) + 1
    assert len(shares) > 1, "written share by share"
    for table in ("events", "outbox", "persons", "person_keys"):
        count = await pool.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert count == len(records) + 1, table
    stored = {r["person_id"] for r in await pool.fetch("SELECT person_id FROM persons")}
    assert stored == set(report.person_ids.values())
    guardian = await pool.fetchval(
        "SELECT guardian_person_id FROM persons WHERE person_id = $1", report.person_ids[2]
    )
    assert guardian == report.person_ids[len(records) + 2]
    # Sealed elsewhere, readable here: the registered name comes back under the person's key.
    row = await pool.fetchrow(
        "SELECT p.name_ciphertext, k.wrapped_key FROM persons p JOIN person_keys k USING"
        " (person_id) WHERE person_id = $1",
        report.person_ids[3],
    )
    key = registrar.vault.unwrap(report.person_ids[3], row["wrapped_key"])
    name = decrypt_field(key, report.person_ids[3], "name", row["name_ciphertext"])
    assert name == records[0]["name"]
    again = await registrar.import_rows(rows(child, *records), CAUSE)
    assert (again.registered, again.unchanged) == (0, len(records) + 1)
