"""What the demo's scenes share: a client of the platform's APIs as the channels call them, a
citizen signing in, and a card taken from application to the holder's hands."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from deploy.demo.citizens import Citizen, face_check_for, fake_citizen
from deploy.endpoints import KEYS, Endpoints


@dataclass
class Showcase:
    """Lines to print, and whether each scene went as the rules say."""

    lines: list[str] = field(default_factory=list)
    outcomes: dict[str, bool] = field(default_factory=dict)


def headers(key: str, token: str | None = None) -> dict[str, str]:
    """A channel's credential, and on a self-service channel the signed-in citizen's token."""
    headers = {"X-Api-Key": KEYS.get(key, key)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def post(
    client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any], token: str | None = None
) -> httpx.Response:
    return await client.post(url, json=body, headers=headers(key, token))


async def register(client: httpx.AsyncClient, urls: Endpoints, citizen: Citizen) -> str:
    response = await post(client, f"{urls.identity}/v1/persons", "operator", citizen.registration())
    response.raise_for_status()
    person_id: str = response.json()["person_id"]
    return person_id


async def face(
    client: httpx.AsyncClient,
    urls: Endpoints,
    citizen: Citizen,
    score: float,
    key: str = "channel",
) -> httpx.Response:
    body = {
        "name": citizen.name,
        "id_number": citizen.id_number,
        "face_check": face_check_for(citizen, score=score).model_dump(mode="json"),
    }
    return await post(client, f"{urls.identity}/v1/verifications", key, body)


async def sign_in(
    client: httpx.AsyncClient, urls: Endpoints, citizen: Citizen, key: str = "channel"
) -> str:
    """The citizen signs in on a self-service channel (name, ID number, face): its token."""
    response = await face(client, urls, citizen, score=96.0, key=key)
    response.raise_for_status()
    token: str = response.json()["citizen_token"]
    return token


async def card(
    client: httpx.AsyncClient,
    urls: Endpoints,
    path: str,
    key: str,
    body: dict[str, Any],
    token: str | None = None,
) -> dict[str, Any]:
    for _ in range(200):  # the card service learns of verifications from identity's events
        response = await post(client, f"{urls.card}{path}", key, body, token)
        if response.json().get("code") != "IDENTITY_NOT_VERIFIED":
            break
        await asyncio.sleep(0.05)
    answer: dict[str, Any] = response.json()
    answer["status"] = response.status_code
    return answer


async def produce_and_deliver(client: httpx.AsyncClient, urls: Endpoints, card_id: str) -> None:
    produced = {"card_number": "S123456789", "chip_serial": "A1B2C3D4E5F60708"}
    await card(client, urls, f"/v1/cards/{card_id}/production", "agency", produced)
    mailed = {"courier": "EMS", "tracking_number": "EMS1234567890"}
    await card(client, urls, f"/v1/cards/{card_id}/mailing", "courier", mailed)
    await card(client, urls, f"/v1/cards/{card_id}/delivery", "courier", {})


async def delivered_card(
    client: httpx.AsyncClient, urls: Endpoints, rng: random.Random, delivery: str = "mail"
) -> tuple[Citizen, str, str]:
    citizen = fake_citizen(rng)
    person_id = await register(client, urls, citizen)
    hall = await sign_in(client, urls, citizen)
    body = {
        "person_id": person_id,
        "region": citizen.region,
        "photo_ref": "photo-demo",
        "delivery": delivery,
    }
    card_id = (await card(client, urls, "/v1/applications", "channel", body, hall))["card_id"]
    await produce_and_deliver(client, urls, card_id)
    return citizen, person_id, card_id


async def activation(
    client: httpx.AsyncClient,
    urls: Endpoints,
    path: str,
    key: str,
    body: dict[str, Any],
    token: str | None = None,
) -> dict[str, Any]:
    for _ in range(200):  # until the activation service learned of the card's last event
        response = await post(client, f"{urls.activation}{path}", key, body, token)
        if response.json().get("code") not in ("CARD_NOT_FOUND", "CARD_NOT_DELIVERED"):
            break
        await asyncio.sleep(0.05)
    answer: dict[str, Any] = response.json()
    answer["status"] = response.status_code
    return answer


async def until_code(
    client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any], code: str
) -> dict[str, Any]:
    """Post until the answer's code is ``code`` (the activation service learns of a card
    event a moment later), at most 10 s."""
    answer: dict[str, Any] = {}
    for _ in range(200):
        answer = (await post(client, url, key, body)).json()
        if answer.get("code") == code:
            break
        await asyncio.sleep(0.05)
    return answer
