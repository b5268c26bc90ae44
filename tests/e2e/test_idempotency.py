"""Idempotency-Key: a retried command gets its first answer and takes effect once, for the
caller who sent it and nobody else."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from deploy.demo.citizens import Citizen, face_check_for, fake_citizen
from deploy.stack import Infrastructure, ServiceProcess
from tests.e2e.harness import register

VERIFY = "/v1/verifications"


def _verification(citizen: Citizen, *, score: float = 96.5) -> dict[str, Any]:
    check = face_check_for(citizen, score=score)
    return {
        "name": citizen.name,
        "id_number": citizen.id_number,
        "face_check": check.model_dump(mode="json"),
    }


async def _events(infra: Infrastructure, person_id: str, event_type: str) -> int:
    conn = await asyncpg.connect(infra.database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM identity.events WHERE person_id = $1 AND event_type = $2",
            person_id,
            event_type,
        )
    finally:
        await conn.close()
    return count


async def _citizen(services: dict[str, ServiceProcess], seed: int) -> tuple[Citizen, str]:
    citizen = fake_citizen(random.Random(seed))
    return citizen, await register(services["identity"].url, citizen)


async def _keyed_verification(
    services: dict[str, ServiceProcess], seed: int
) -> tuple[str, dict[str, Any], str, dict[str, str]]:
    """A registered citizen's person id, a verification of them, where to send it, and the
    online hall's headers with a fresh key."""
    citizen, person_id = await _citizen(services, seed)
    url = f"{services['identity'].url}{VERIFY}"
    key = {"X-Api-Key": "dev-online-hall", "Idempotency-Key": str(uuid.uuid4())}
    return person_id, _verification(citizen), url, key


async def test_a_verification_whose_answer_was_lost_is_retried_with_its_key(
    services: dict[str, ServiceProcess], infra: Infrastructure
) -> None:
    person_id, body, url, key = await _keyed_verification(services, 7101)
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(url, headers=key, json=body)
        again = await client.post(url, headers=key, json=body)
        # Without a key the same retry is a replayed face result: refused.
        bare = await client.post(url, headers={"X-Api-Key": "dev-online-hall"}, json=body)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert (bare.status_code, bare.json()["code"]) == (422, "FACE_RESULT_REPLAYED")
    assert await _events(infra, person_id, "IdentityVerified") == 1


async def test_a_failed_face_check_retried_counts_once_towards_the_lock(
    services: dict[str, ServiceProcess], infra: Infrastructure
) -> None:
    citizen, person_id = await _citizen(services, 7102)
    body = _verification(citizen, score=12.0)
    url = f"{services['identity'].url}{VERIFY}"
    key = {"X-Api-Key": "dev-citizen-app", "Idempotency-Key": str(uuid.uuid4())}
    async with httpx.AsyncClient(timeout=30) as client:
        answers = [await client.post(url, headers=key, json=body) for _ in range(8)]
    codes = {(a.status_code, a.json()["code"]) for a in answers}
    assert len(codes) == 1, codes
    assert next(iter(codes))[0] in (401, 403, 409, 422), codes
    assert await _events(infra, person_id, "IdentityVerificationFailed") == 1
    assert await _events(infra, person_id, "FaceVerificationLocked") == 0


async def test_the_same_key_with_another_body_is_refused(
    services: dict[str, ServiceProcess],
) -> None:
    citizen, _ = await _citizen(services, 7103)
    url = f"{services['identity'].url}{VERIFY}"
    key = {"X-Api-Key": "dev-online-hall", "Idempotency-Key": "order-7103"}
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(url, headers=key, json=_verification(citizen))
        other = await client.post(url, headers=key, json=_verification(citizen))
    assert first.status_code == 201, first.text
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_nobody_else_gets_the_answer_kept_for_a_key(
    services: dict[str, ServiceProcess],
) -> None:
    # The answer holds the citizen's token: another channel sending the same key and body
    # (it saw the request go by) runs its own request, and gets no replay.
    citizen, _ = await _citizen(services, 7104)
    body = _verification(citizen)
    url = f"{services['identity'].url}{VERIFY}"
    key = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(
            url, headers={"X-Api-Key": "dev-online-hall", "Idempotency-Key": key}, json=body
        )
        stranger = await client.post(
            url, headers={"X-Api-Key": "dev-citizen-app", "Idempotency-Key": key}, json=body
        )
        thief = await client.post(
            url, headers={"X-Api-Key": "stolen-key", "Idempotency-Key": key}, json=body
        )
    assert first.status_code == 201
    assert "idempotent-replayed" not in stranger.headers
    assert stranger.json()["code"] == "FACE_RESULT_REPLAYED", stranger.text
    assert thief.status_code == 401
    assert "citizen_token" not in thief.text


async def test_concurrent_retries_take_effect_once(
    services: dict[str, ServiceProcess], infra: Infrastructure
) -> None:
    person_id, body, url, key = await _keyed_verification(services, 7105)
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(
            *(client.post(url, headers=key, json=body) for _ in range(12))
        )
        settled = await client.post(url, headers=key, json=body)
    ran = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    others = {(a.status_code, a.json().get("code")) for a in answers if a not in ran}
    assert len(ran) == 1
    assert others <= {(201, None), (409, "IDEMPOTENCY_KEY_IN_USE")}, others
    assert (settled.status_code, settled.json()) == (201, ran[0].json())
    assert await _events(infra, person_id, "IdentityVerified") == 1


async def test_a_refusal_that_changed_nothing_is_decided_afresh(
    services: dict[str, ServiceProcess],
) -> None:
    # Nothing was recorded (the body was not even valid): the same key tries again, and a
    # "not yet" may become a yes.
    url = f"{services['identity'].url}{VERIFY}"
    key = {"X-Api-Key": "dev-online-hall", "Idempotency-Key": str(uuid.uuid4())}
    async with httpx.AsyncClient(timeout=30) as client:
        answers = [await client.post(url, headers=key, json={}) for _ in range(2)]
    assert [a.status_code for a in answers] == [422, 422]
    assert "idempotent-replayed" not in answers[1].headers


async def test_a_key_whose_attempt_died_is_taken_over_or_says_the_answer_was_lost(
    services: dict[str, ServiceProcess], infra: Infrastructure
) -> None:
    citizen, _ = await _citizen(services, 7106)
    url = f"{services['identity'].url}{VERIFY}"
    failing = [json.dumps(_verification(citizen, score=12.0)).encode() for _ in range(2)]
    bodies = [json.dumps(_verification(citizen)).encode(), *failing]
    keys = [str(uuid.uuid4()) for _ in bodies]

    async def send(n: int) -> httpx.Response:
        headers = {"X-Api-Key": "dev-online-hall", "Idempotency-Key": keys[n]}
        headers["content-type"] = "application/json"
        return await client.post(url, headers=headers, content=bodies[n])

    forget_answer = "UPDATE identity.idempotency_keys SET status = NULL, body = NULL"
    conn = await asyncpg.connect(infra.database_url)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            first = [await send(n) for n in range(3)]
            assert [a.status_code for a in first] == [201, *(2 * [first[1].status_code])]
            # The first died after its events committed, before its answer was kept.
            await conn.execute(
                f"{forget_answer}, claimed_at = now() - interval '1 minute' WHERE key = $1",
                keys[0],
            )
            # The second died before anything committed, a minute ago; the third is running.
            died = ", committed_at = NULL, attempt = gen_random_uuid()"
            died += ", claimed_at = now() - $2::interval"
            await conn.execute(f"{forget_answer}{died} WHERE key = $1", keys[1], timedelta(60))
            await conn.execute(f"{forget_answer}{died} WHERE key = $1", keys[2], timedelta(0))
            lost, taken_over, running = [await send(n) for n in range(3)]
    finally:
        await conn.close()
    assert lost.status_code == 409
    assert lost.json()["code"] == "IDEMPOTENCY_ANSWER_LOST"
    assert "IdentityVerified" in [e["event_type"] for e in lost.json()["details"]]
    assert "idempotent-replayed" not in taken_over.headers  # run anew, not replayed
    assert taken_over.status_code >= 400
    assert running.status_code == 409
    assert running.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert running.headers["retry-after"] == "1"


async def test_a_key_must_be_printable_and_short(services: dict[str, ServiceProcess]) -> None:
    url = f"{services['identity'].url}{VERIFY}"
    async with httpx.AsyncClient(timeout=30) as client:
        for bad in ("has space", "x" * 256, ""):
            answer = await client.post(
                url, headers={"X-Api-Key": "dev-online-hall", "Idempotency-Key": bad}, json={}
            )
            assert answer.status_code == 400, bad
            assert answer.json()["code"] == "IDEMPOTENCY_KEY_INVALID"


async def test_a_retry_may_encode_its_body_afresh_but_not_send_two_keys(
    services: dict[str, ServiceProcess],
) -> None:
    url = f"{services['identity'].url}/v1/persons"
    citizen = fake_citizen(random.Random(7107))
    body = citizen.registration()
    key = str(uuid.uuid4())
    headers = {
        "X-Api-Key": "dev-operator",
        "X-Access-Reason": "AUDIT",
        "Idempotency-Key": key,
        "content-type": "application/json",
    }
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(url, headers=headers, content=json.dumps(body).encode())
        reordered = dict(reversed(list(body.items())))
        again = await client.post(
            url, headers=headers, content=json.dumps(reordered, indent=2).encode()
        )
        two = await client.post(
            url,
            headers=[*headers.items(), ("Idempotency-Key", "another")],
            content=json.dumps(body).encode(),
        )
    assert first.status_code in (200, 201), first.text
    assert again.headers["idempotent-replayed"] == "true"
    assert (two.status_code, two.json()["code"]) == (400, "IDEMPOTENCY_KEY_INVALID")


async def test_every_command_documents_the_key(services: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for name in ("identity", "card", "activation", "notification"):
            spec = (await client.get(f"{services[name].url}/openapi.json")).json()
            commands = [
                operation
                for operations in spec["paths"].values()
                for method, operation in operations.items()
                if method in ("post", "put", "patch", "delete")
            ]
            assert commands, name
            for operation in commands:
                names = [p["name"] for p in operation.get("parameters", [])]
                assert "Idempotency-Key" in names, (name, operation.get("summary"))
