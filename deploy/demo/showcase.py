"""What ``shebao demo`` shows beyond the happy journey: a failed face check, a lockout, family
links, a citizen signing in and a stranger refused, the card's life, and the money path
(``deploy.demo.money``), each through the real APIs."""

from __future__ import annotations

import asyncio
import random
from datetime import date
from typing import Any

import httpx

from deploy.demo import scenes as kit
from deploy.demo.citizens import Citizen, face_check_for, fake_citizen, make_id_number
from deploy.demo.money import activation_scene, payment_scene
from deploy.demo.scenes import Showcase
from deploy.endpoints import KEYS, Endpoints
from shared.idnumber import mask_id_number

__all__ = ["Showcase", "run_showcase"]


async def face_lock_scene(
    client: httpx.AsyncClient, urls: Endpoints, rng: random.Random
) -> Showcase:
    """Five poor face matches lock face verification; a good one is then refused too."""
    scene = Showcase()
    citizen = fake_citizen(rng)
    await kit.register(client, urls, citizen)
    scene.lines.append(f"face checks for citizen {mask_id_number(citizen.id_number)}:")
    codes = []
    for attempt in range(1, 6):
        response = await kit.face(client, urls, citizen, score=41.0)
        codes.append(response.json().get("code"))
        scene.lines.append(f"  attempt {attempt}, score 41: {response.status_code} {codes[-1]}")
    genuine = await kit.face(client, urls, citizen, score=97.0)
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
    holder_id = await kit.register(client, urls, holder)
    await kit.register(client, urls, member)
    holder_token = await kit.sign_in(client, urls, holder, "dev-citizen-app")
    # The member consents on the holder's phone: signed in themselves, with a fresh face check.
    member_token = await kit.sign_in(client, urls, member, "dev-citizen-app")
    response = await kit.post(
        client,
        f"{urls.identity}/v1/persons/{holder_id}/family",
        "dev-citizen-app",
        {
            "name": member.name,
            "id_number": member.id_number,
            "relation": "parent",
            "face_check": face_check_for(member).model_dump(mode="json"),
            "member_token": member_token,
        },
        holder_token,
    )
    scene.lines.append(
        f"family link: holder {mask_id_number(holder.id_number)} adds parent "
        f"{mask_id_number(member.id_number)} (their own face check): {response.status_code}"
    )
    scene.outcomes["family_link"] = response.status_code == 201
    return scene


async def authority_scene(
    client: httpx.AsyncClient, urls: Endpoints, rng: random.Random
) -> Showcase:
    """A citizen signs in; as the guardian who linked their child they apply for the child's
    card; a stranger signed in on the same app is refused the child's card."""
    scene = Showcase()
    guardian, stranger = fake_citizen(rng), fake_citizen(rng)
    guardian_id = await kit.register(client, urls, guardian)
    await kit.register(client, urls, stranger)
    signed = await kit.face(client, urls, guardian, score=96.0, key="dev-citizen-app")
    token = signed.json().get("citizen_token", "")
    scene.lines.append(
        f"signed in on the citizen app: {mask_id_number(guardian.id_number)}, token until "
        f"{signed.json().get('token_expires_at')}"
    )
    today = date.today()
    born = today.replace(year=today.year - 5)
    child = Citizen("王小宝", make_id_number(rng, guardian.region, born), guardian.region, "")
    registration = {
        "name": child.name,
        "id_number": child.id_number,
        "region": child.region,
        "guardian_id_number": guardian.id_number,
    }
    registered = await kit.post(client, f"{urls.identity}/v1/persons", "dev-window", registration)
    child_id = registered.json().get("person_id", "")
    through_guardian = {
        "name": child.name,
        "id_number": child.id_number,
        "guardian": {
            "name": guardian.name,
            "id_number": guardian.id_number,
            "face_check": face_check_for(guardian).model_dump(mode="json"),
        },
    }
    await kit.post(client, f"{urls.identity}/v1/verifications", "dev-citizen-app", through_guardian)
    link = {"name": child.name, "id_number": child.id_number, "relation": "child"}
    linked = await kit.post(
        client, f"{urls.identity}/v1/persons/{guardian_id}/family", "dev-citizen-app", link, token
    )
    # Acting for the child takes identity's fresh grant (a minute): an unlink ends it at once.
    granted = await kit.post(
        client,
        f"{urls.identity}/v1/persons/{guardian_id}/family/{child_id}/grant",
        "dev-citizen-app",
        {},
        token,
    )
    as_guardian = {**kit.headers("dev-citizen-app", token)}
    as_guardian["X-Family-Grant"] = granted.json().get("grant", "")
    application = {"person_id": child_id, "region": child.region}  # under 7: no photo
    applied: dict[str, Any] = {}
    for _ in range(200):  # until the card service learned of the link and the verification
        response = await client.post(
            f"{urls.card}/v1/applications", json=application, headers=as_guardian
        )
        applied = {**response.json(), "status": response.status_code}
        if applied["status"] not in (403, 409):
            break
        await asyncio.sleep(0.05)
    scene.lines.append(
        f"the guardian links their child ({linked.status_code}) and applies for the child's "
        f"card, without a photo under 7: {applied.get('events', applied.get('code'))}"
    )
    card_url = f"{urls.card}/v1/cards/{applied.get('card_id')}"
    stranger_token = await kit.sign_in(client, urls, stranger, "dev-citizen-app")
    as_stranger = await client.get(card_url, headers=kit.headers("dev-citizen-app", stranger_token))
    no_token = await client.get(card_url, headers=kit.headers("dev-citizen-app"))
    scene.lines.append(
        f"a stranger signed in on the same app asks for the child's card: "
        f"{as_stranger.status_code} {as_stranger.json().get('code')}; the app without a "
        f"citizen token: {no_token.status_code} {no_token.json().get('code')}"
    )
    scene.outcomes["citizen_sign_in"] = bool(token)
    scene.outcomes["family_acts_for_child"] = applied.get("status") == 201
    scene.outcomes["stranger_refused"] = (
        as_stranger.json().get("code") == "PERSON_FORBIDDEN"
        and no_token.json().get("code") == "TOKEN_REQUIRED"
    )
    return scene


async def card_scene(client: httpx.AsyncClient, urls: Endpoints, rng: random.Random) -> Showcase:
    """A failed production and a new application; an e-card claimed in a chosen region; the
    card lost, replaced, and the e-card following it."""
    scene = Showcase()
    citizen = fake_citizen(rng)
    person_id = await kit.register(client, urls, citizen)
    hall = await kit.sign_in(client, urls, citizen)
    application = {"person_id": person_id, "region": citizen.region, "photo_ref": "photo-1234"}
    first = await kit.card(client, urls, "/v1/applications", "channel", application, hall)
    failed = await kit.card(
        client,
        urls,
        f"/v1/cards/{first['card_id']}/production-failure",
        "agency",
        {"reason": "PHOTO_UNUSABLE"},
    )
    second = await kit.card(client, urls, "/v1/applications", "channel", application, hall)
    scene.lines.append(
        f"card for {mask_id_number(citizen.id_number)}: production {failed['events']}, "
        f"applied again: {second['status']}"
    )
    await kit.produce_and_deliver(client, urls, second["card_id"])
    claim_body = {"person_id": person_id, "region": citizen.region}
    app = await kit.sign_in(client, urls, citizen, "dev-citizen-app")
    claim = await kit.card(client, urls, "/v1/ecards", "dev-citizen-app", claim_body, app)
    scene.lines.append(f"e-card claimed in region {citizen.region}: {claim.get('events')}")
    ecard = f"/v1/ecards/{person_id}/activation"
    for _ in range(200):  # until the activation service learned of the claim
        activated = await kit.post(
            client, f"{urls.activation}{ecard}", "dev-citizen-app", {"password": "258036"}, app
        )
        if activated.json().get("code") != "E_CARD_NOT_CLAIMED":
            break
        await asyncio.sleep(0.05)
    scene.lines.append(f"e-card password set, e-card active: {activated.json().get('events')}")
    scene.outcomes["ecard_activation"] = activated.status_code == 201
    lost = await kit.card(
        client, urls, f"/v1/cards/{second['card_id']}/loss", "dev-window", {"kind": "formal"}
    )
    replaced = await kit.card(
        client, urls, f"/v1/cards/{second['card_id']}/replacement", "dev-window", {"reason": "loss"}
    )
    scene.lines.append(f"reported lost: {lost.get('events')}; replaced: {replaced.get('events')}")
    await kit.produce_and_deliver(client, urls, replaced["card_id"])
    card = await client.get(
        f"{urls.card}/v1/cards/{replaced['card_id']}",
        headers={"X-Api-Key": KEYS["operator"], "X-Access-Reason": "CITIZEN_REQUEST"},
    )
    scene.lines.append(f"the replacement is {card.json()['status']}; the e-card moved to it")
    scene.outcomes["failed_production"] = failed.get("events") == ["CardProductionFailed"]
    scene.outcomes["ecard_claim"] = claim.get("status") == 201
    scene.outcomes["replacement"] = replaced.get("status") == 201
    return scene


async def run_showcase(urls: Endpoints, seed: int | None = None) -> Showcase:
    """Every scene, one after the other."""
    rng = random.Random(seed)  # noqa: S311 - made-up citizens, not secrets
    result = Showcase()
    async with httpx.AsyncClient(timeout=30) as client:
        scenes = (
            face_lock_scene,
            family_scene,
            authority_scene,
            card_scene,
            activation_scene,
            payment_scene,
        )
        for scene in scenes:
            name = scene.__name__.removesuffix("_scene")
            try:
                part = await scene(client, urls, rng)
            except Exception as exc:  # a service died mid-scene: the report still comes
                result.lines.append(f"[red]{name}: could not be shown ({type(exc).__name__})[/]")
                result.outcomes[name] = False
                continue
            result.lines.extend(part.lines)
            result.outcomes.update(part.outcomes)
    return result
