"""Identity through its API on the real stack: registry, name match, face lock under load."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import date

import asyncpg
import httpx

from deploy.demo.citizens import Citizen, face_check_for, fake_citizen, make_id_number
from deploy.demo.journeys import run_journey
from deploy.stack import Infrastructure, ServiceProcess
from shared.topics import IDENTITY_EVENTS
from tests.e2e.harness import (
    as_citizen,
    endpoints,
    envelope_of,
    read_records,
    register,
    sign_in,
)


async def verify(
    client: httpx.AsyncClient,
    url: str,
    citizen: Citizen,
    *,
    name: str | None = None,
    score: float = 96,
    key: str = "dev-online-hall",
) -> httpx.Response:
    return await client.post(
        f"{url}/v1/verifications",
        headers={"X-Api-Key": key},
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
            headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
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
        f"{url}/v1/persons/{person_id}/erasure",
        headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
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


async def link(
    client: httpx.AsyncClient,
    url: str,
    holder_id: str,
    member: Citizen,
    *,
    face: bool = True,
    relation: str = "sibling",
    holder_token: str | None = None,
    member_token: str | None = None,
    key: str = "dev-citizen-app",
) -> httpx.Response:
    """The holder (signed in on ``key`` with ``holder_token``) links a member, who consents
    with their own face check and, signed in themselves, ``member_token``."""
    body: dict[str, object] = {
        "name": member.name,
        "id_number": member.id_number,
        "relation": relation,
    }
    if face:
        body["face_check"] = face_check_for(member).model_dump(mode="json")
    if member_token:
        body["member_token"] = member_token
    return await client.post(
        f"{url}/v1/persons/{holder_id}/family", headers=as_citizen(key, holder_token), json=body
    )


async def test_family_links_hold_the_limit_under_concurrent_requests(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    url = services["identity"].url
    rng = random.Random(27)
    holder = fake_citizen(rng)
    members = [fake_citizen(rng) for _ in range(11)]
    holder_id = await register(url, holder)
    for member in members:
        await register(url, member)
    async with httpx.AsyncClient(timeout=60) as client:
        # At a window (no citizen token), a holder who never passed a face check links nobody.
        no_face_yet = await link(client, url, holder_id, members[0], key="dev-window")
        assert no_face_yet.json()["code"] == "HOLDER_NOT_VERIFIED"
        _, token = await sign_in(client, url, holder, "dev-citizen-app")
        tokens = {m.id_number: (await sign_in(client, url, m, "dev-citizen-app")) for m in members}
        without_consent = await link(client, url, holder_id, members[0], holder_token=token)
        assert without_consent.json()["code"] == "FAMILY_CONSENT_REQUIRED", "no member token"

        async def link_member(member: Citizen) -> httpx.Response:
            _, member_token = tokens[member.id_number]
            return await link(
                client, url, holder_id, member, holder_token=token, member_token=member_token
            )

        answers = await asyncio.gather(*(link_member(m) for m in members[1:]))
        codes = Counter(r.json().get("code", r.status_code) for r in answers)
        assert codes[201] <= 8, codes
        assert set(codes) <= {201, "FAMILY_LIMIT_REACHED", "CONCURRENT_UPDATE"}, codes
        # A channel retries a request that lost a race; the limit still holds exactly.
        for member, answer in zip(members[1:], answers, strict=True):
            if answer.json().get("code") == "CONCURRENT_UPDATE":
                retried = await link_member(member)
                assert retried.status_code in (201, 409), retried.text
        family = f"{url}/v1/persons/{holder_id}/family"
        linked = await client.get(family, headers=as_citizen("dev-citizen-app", token))
        assert len(linked.json()) == 8
        first = linked.json()[0]["member_person_id"]
        first_token = next(t for p, t in tokens.values() if p == first)
        # The member unlinks themselves, signed in; a stranger's token reads no one's family.
        unlinked = await client.post(
            f"{family}/{first}/unlink",
            headers=as_citizen("dev-citizen-app", first_token),
            json={},
        )
        assert unlinked.status_code == 200, unlinked.text
        as_member = await client.get(family, headers=as_citizen("dev-citizen-app", first_token))
        assert (as_member.status_code, as_member.json()["code"]) == (403, "PERSON_FORBIDDEN")
        remaining = await client.get(family, headers=as_citizen("dev-citizen-app", token))
    assert len(remaining.json()) == 7
    assert first not in {m["member_person_id"] for m in remaining.json()}
    records = await read_records(
        infra.bootstrap_servers,
        [IDENTITY_EVENTS],
        keep=lambda r: r.key == holder_id.encode(),
        done=lambda kept: any(envelope_of(r).event_type == "FamilyMemberUnlinked" for r in kept),
    )
    types = Counter(envelope_of(r).event_type for r in records)
    assert (types["FamilyMemberLinked"], types["FamilyMemberUnlinked"]) == (8, 1)


async def test_a_guardian_verifies_and_links_their_child(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    url = services["identity"].url
    rng = random.Random(28)
    guardian = fake_citizen(rng)
    guardian_id = await register(url, guardian)
    child_number = make_id_number(rng, "110105", date.today().replace(year=date.today().year - 9))
    child = Citizen("王小明", child_number, "110105", "")
    async with httpx.AsyncClient(timeout=30) as client:
        registered = await client.post(
            f"{url}/v1/persons",
            headers={"X-Api-Key": "dev-window"},
            json={
                "name": child.name,
                "id_number": child.id_number,
                "region": child.region,
                "guardian_id_number": guardian.id_number,
            },
        )
        assert registered.status_code == 201, registered.text
        child_id = registered.json()["person_id"]
        alone = await client.post(
            f"{url}/v1/verifications",
            headers={"X-Api-Key": "dev-online-hall"},
            json={"name": child.name, "id_number": child.id_number},
        )
        assert alone.json()["code"] == "GUARDIAN_MUST_ACT"
        through_guardian = await client.post(
            f"{url}/v1/verifications",
            headers={"X-Api-Key": "dev-online-hall"},
            json={
                "name": child.name,
                "id_number": child.id_number,
                "guardian": {
                    "name": guardian.name,
                    "id_number": guardian.id_number,
                    "face_check": face_check_for(guardian).model_dump(mode="json"),
                },
            },
        )
        assert through_guardian.status_code == 201, through_guardian.text
        assert through_guardian.json()["person_id"] == child_id
        assert through_guardian.json()["level"] == "real_person"
        _, guardian_token = await sign_in(client, url, guardian, "dev-citizen-app")
        linked = await link(
            client,
            url,
            guardian_id,
            child,
            face=False,
            relation="child",
            holder_token=guardian_token,
        )
        assert linked.status_code == 201, linked.text
        stranger = fake_citizen(rng)
        stranger_id = await register(url, stranger)
        _, stranger_token = await sign_in(client, url, stranger, "dev-citizen-app")
        refused = await link(
            client,
            url,
            stranger_id,
            child,
            face=False,
            relation="child",
            holder_token=stranger_token,
        )
    assert refused.json()["code"] == "FAMILY_CONSENT_REQUIRED"
    records = await read_records(
        infra.bootstrap_servers,
        [IDENTITY_EVENTS],
        keep=lambda r: r.key == child_id.encode(),
        done=lambda kept: len(kept) >= 4,
    )
    assert [envelope_of(r).event_type for r in records] == [
        "PersonRegistered",
        "PersonFactsIssued",
        "GuardianConsentRecorded",
        "IdentityVerified",
    ]
    assert envelope_of(records[2]).payload["guardian_person_id"] == guardian_id
