"""What ``shebao demo`` shows beyond the happy journey: a failed face check, a lockout and a
family link, each through the real APIs."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from deploy.citizens import Citizen, face_check_for, fake_citizen
from deploy.demo import KEYS, Endpoints
from services.identity.idnumber import mask_id_number


@dataclass
class Showcase:
    """Lines to print, and whether each scene went as the rules say."""

    lines: list[str] = field(default_factory=list)
    outcomes: dict[str, bool] = field(default_factory=dict)


async def _post(
    client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(url, json=body, headers={"X-Api-Key": KEYS.get(key, key)})


async def _register(client: httpx.AsyncClient, urls: Endpoints, citizen: Citizen) -> str:
    response = await _post(
        client, f"{urls.identity}/v1/persons", "operator", citizen.registration()
    )
    response.raise_for_status()
    person_id: str = response.json()["person_id"]
    return person_id


async def _face(
    client: httpx.AsyncClient, urls: Endpoints, citizen: Citizen, score: float
) -> httpx.Response:
    body = {
        "name": citizen.name,
        "id_number": citizen.id_number,
        "face_check": face_check_for(citizen, score=score).model_dump(mode="json"),
    }
    return await _post(client, f"{urls.identity}/v1/verifications", "channel", body)


async def face_lock_scene(
    client: httpx.AsyncClient, urls: Endpoints, rng: random.Random
) -> Showcase:
    """Five poor face matches lock face verification; a good one is then refused too."""
    scene = Showcase()
    citizen = fake_citizen(rng)
    await _register(client, urls, citizen)
    scene.lines.append(f"face checks for citizen {mask_id_number(citizen.id_number)}:")
    codes = []
    for attempt in range(1, 6):
        response = await _face(client, urls, citizen, score=41.0)
        codes.append(response.json().get("code"))
        scene.lines.append(f"  attempt {attempt}, score 41: {response.status_code} {codes[-1]}")
    genuine = await _face(client, urls, citizen, score=97.0)
    scene.lines.append(f"  a good match now: {genuine.status_code} {genuine.json().get('code')}")
    scene.outcomes["failed_face_check"] = codes[0] == "FACE_SCORE_TOO_LOW"
    scene.outcomes["lockout"] = (
        codes[4] == "FACE_VERIFICATION_LOCKED" and genuine.status_code == 423
    )
    return scene


async def family_scene(client: httpx.AsyncClient, urls: Endpoints, rng: random.Random) -> Showcase:
    """A face-verified holder links a family member who consents with their own face check."""
    scene = Showcase()
    holder, member = fake_citizen(rng), fake_citizen(rng)
    holder_id = await _register(client, urls, holder)
    await _register(client, urls, member)
    await _face(client, urls, holder, score=96.0)
    response = await _post(
        client,
        f"{urls.identity}/v1/persons/{holder_id}/family",
        "dev-citizen-app",
        {
            "name": member.name,
            "id_number": member.id_number,
            "relation": "parent",
            "face_check": face_check_for(member).model_dump(mode="json"),
        },
    )
    scene.lines.append(
        f"family link: holder {mask_id_number(holder.id_number)} adds parent "
        f"{mask_id_number(member.id_number)} (their own face check): {response.status_code}"
    )
    scene.outcomes["family_link"] = response.status_code == 201
    return scene


async def run_showcase(urls: Endpoints, seed: int | None = None) -> Showcase:
    """Every scene, one after the other."""
    rng = random.Random(seed)  # noqa: S311 - made-up citizens, not secrets
    result = Showcase()
    async with httpx.AsyncClient(timeout=30) as client:
        for scene in (face_lock_scene, family_scene):
            part = await scene(client, urls, rng)
            result.lines.extend(part.lines)
            result.outcomes.update(part.outcomes)
    return result
