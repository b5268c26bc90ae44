"""Identity through its API on the real stack: registry, name match, face lock under load."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import asyncpg
import httpx

from deploy.citizens import Citizen, face_check_for, fake_citizen
from deploy.demo import run_journey
from deploy.stack import Infrastructure, ServiceProcess
from shared.topics import IDENTITY_EVENTS
from tests.e2e.harness import endpoints, envelope_of, read_records, register


async def verify(
    client: httpx.AsyncClient,
    url: str,
    citizen: Citizen,
    *,
    name: str | None = None,
    score: float = 96,
) -> httpx.Response:
    return await client.post(
        f"{url}/v1/verifications",
        headers={"X-Api-Key": "dev-online-hall"},
        json={
            "name": name or citizen.name,
            "id_number": citizen.id_number,
            "face_check": face_check_for(citizen, score=score).model_dump(mode="json"),
        },
    )


async def test_an_unregistered_person_is_refused(services: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await verify(client, services["identity"].url, fake_citizen(random.Random(21)))
    assert (response.status_code, response.json()["code"]) == (404, "PERSON_NOT_REGISTERED")


async def test_registering_twice_changes_nothing(services: dict[str, ServiceProcess]) -> None:
    citizen = fake_citizen(random.Random(22))
    url = services["identity"].url
    first = await register(url, citizen)
    assert await register(url, citizen) == first
    async with httpx.AsyncClient(timeout=30) as client:
        other = await client.post(
            f"{url}/v1/persons",
            headers={"X-Api-Key": "dev-operator"},
            json=citizen.registration() | {"phone": "13700000000"},
        )
    assert (other.status_code, other.json()["code"]) == (409, "PERSON_ALREADY_REGISTERED")


async def test_a_wrong_name_is_refused_and_recorded(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    citizen = fake_citizen(random.Random(23))
    person_id = await register(services["identity"].url, citizen)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await verify(client, services["identity"].url, citizen, name="张冒名")
    assert (response.status_code, response.json()["code"]) == (422, "NAME_MISMATCH")
    assert "张冒名" not in response.text
    records = await read_records(
        infra.bootstrap_servers,
        [IDENTITY_EVENTS],
        keep=lambda r: r.key == person_id.encode(),
        done=lambda kept: len(kept) >= 2,
    )
    failed = [envelope_of(r) for r in records][-1]
    assert failed.event_type == "IdentityVerificationFailed"
    assert failed.payload["reason"] == "NAME_MISMATCH"


async def test_concurrent_failed_face_checks_lock_after_exactly_five(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    citizen = fake_citizen(random.Random(24))
    url = services["identity"].url
    person_id = await register(url, citizen)
    async with httpx.AsyncClient(timeout=60) as client:
        answers = await asyncio.gather(*(verify(client, url, citizen, score=42) for _ in range(12)))
        codes = Counter(r.json()["code"] for r in answers)
        assert codes["FACE_SCORE_TOO_LOW"] == 4, codes
        assert codes["FACE_VERIFICATION_LOCKED"] + codes["CONCURRENT_UPDATE"] == 8, codes
        assert codes["FACE_VERIFICATION_LOCKED"] >= 1, codes
        genuine = await verify(client, url, citizen)
    assert (genuine.status_code, genuine.json()["code"]) == (423, "FACE_VERIFICATION_LOCKED")
    records = await read_records(
        infra.bootstrap_servers,
        [IDENTITY_EVENTS],
        keep=lambda r: r.key == person_id.encode(),
        done=lambda kept: len(kept) >= 7,
    )
    types = Counter(envelope_of(r).event_type for r in records)
    assert types == {
        "PersonRegistered": 1,
        "IdentityVerificationFailed": 5,
        "FaceVerificationLocked": 1,
    }


async def erase(client: httpx.AsyncClient, url: str, person_id: str) -> httpx.Response:
    return await client.post(
        f"{url}/v1/persons/{person_id}/erasure", headers={"X-Api-Key": "dev-operator"}
    )


async def test_erasure_makes_personal_data_unreadable_everywhere(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    citizen = fake_citizen(random.Random(25))
    url = services["identity"].url
    person_id = await register(url, citizen)
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await verify(client, url, citizen)).status_code == 201
        erased = await erase(client, url, person_id)
        assert erased.json() == {"person_id": person_id, "erased_now": True}
        assert (await erase(client, url, person_id)).json()["erased_now"] is False
        after = await verify(client, url, citizen)
    assert (after.status_code, after.json()["code"]) == (410, "PERSONAL_DATA_ERASED")

    conn = await asyncpg.connect(infra.database_url)
    try:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM identity.person_keys WHERE person_id = $1", person_id
            )
            == 0
        )
        row = await conn.fetchrow("SELECT * FROM identity.persons WHERE person_id = $1", person_id)
        assert row["erased"] is True
        assert row["name_ciphertext"] is None
        dump = "".join(str(r) for r in await conn.fetch("SELECT * FROM identity.events"))
    finally:
        await conn.close()
    records = await read_records(
        infra.bootstrap_servers,
        [IDENTITY_EVENTS],
        keep=lambda r: r.key == person_id.encode(),
        done=lambda kept: "PersonalDataErased" in [envelope_of(r).event_type for r in kept],
    )
    registered = next(
        envelope_of(r) for r in records if envelope_of(r).event_type == "PersonRegistered"
    )
    for text in (dump, *(r.value.decode() for r in records if r.value)):
        assert citizen.name not in text
        assert citizen.id_number not in text
        assert citizen.phone not in text
    # The ciphertexts remain in the log, but the only key that opened them is gone.
    assert registered.payload["name_ciphertext"]


async def test_a_card_holder_cannot_be_erased(services: dict[str, ServiceProcess]) -> None:
    citizen = fake_citizen(random.Random(26))
    async with httpx.AsyncClient(timeout=30) as client:
        journey = await run_journey(client, endpoints(services), citizen)
        assert journey.completed, journey.failure
        assert journey.person_id is not None
        answer = await erase(client, services["identity"].url, journey.person_id)
    assert (answer.status_code, answer.json()["code"]) == (409, "PERSON_HOLDS_CARD")
