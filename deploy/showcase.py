"""What ``shebao demo`` shows beyond the happy journey: a failed face check, a lockout and a
family link, each through the real APIs."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from deploy.citizens import Citizen, face_check_for, fake_citizen, make_id_number
from deploy.demo import KEYS, Endpoints
from services.identity.idnumber import mask_id_number


@dataclass
class Showcase:
    """Lines to print, and whether each scene went as the rules say."""

    lines: list[str] = field(default_factory=list)
    outcomes: dict[str, bool] = field(default_factory=dict)


def _headers(key: str, token: str | None = None) -> dict[str, str]:
    """A channel's credential, and on a self-service channel the signed-in citizen's token."""
    headers = {"X-Api-Key": KEYS.get(key, key)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def _post(
    client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any], token: str | None = None
) -> httpx.Response:
    return await client.post(url, json=body, headers=_headers(key, token))


async def _register(client: httpx.AsyncClient, urls: Endpoints, citizen: Citizen) -> str:
    response = await _post(
        client, f"{urls.identity}/v1/persons", "operator", citizen.registration()
    )
    response.raise_for_status()
    person_id: str = response.json()["person_id"]
    return person_id


async def _face(
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
    return await _post(client, f"{urls.identity}/v1/verifications", key, body)


async def _sign_in(
    client: httpx.AsyncClient, urls: Endpoints, citizen: Citizen, key: str = "channel"
) -> str:
    """The citizen signs in on a self-service channel (name, ID number, face): its token."""
    response = await _face(client, urls, citizen, score=96.0, key=key)
    response.raise_for_status()
    token: str = response.json()["citizen_token"]
    return token


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
    holder_token = await _sign_in(client, urls, holder, "dev-citizen-app")
    # The member consents on the holder's phone: signed in themselves, with a fresh face check.
    member_token = await _sign_in(client, urls, member, "dev-citizen-app")
    response = await _post(
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
    guardian_id = await _register(client, urls, guardian)
    await _register(client, urls, stranger)
    signed = await _face(client, urls, guardian, score=96.0, key="dev-citizen-app")
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
    registered = await _post(client, f"{urls.identity}/v1/persons", "dev-window", registration)
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
    await _post(client, f"{urls.identity}/v1/verifications", "dev-citizen-app", through_guardian)
    link = {"name": child.name, "id_number": child.id_number, "relation": "child"}
    linked = await _post(
        client, f"{urls.identity}/v1/persons/{guardian_id}/family", "dev-citizen-app", link, token
    )
    # Acting for the child takes identity's fresh grant (a minute): an unlink ends it at once.
    granted = await _post(
        client,
        f"{urls.identity}/v1/persons/{guardian_id}/family/{child_id}/grant",
        "dev-citizen-app",
        {},
        token,
    )
    as_guardian = {**_headers("dev-citizen-app", token)}
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
    stranger_token = await _sign_in(client, urls, stranger, "dev-citizen-app")
    as_stranger = await client.get(card_url, headers=_headers("dev-citizen-app", stranger_token))
    no_token = await client.get(card_url, headers=_headers("dev-citizen-app"))
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


async def _card(
    client: httpx.AsyncClient,
    urls: Endpoints,
    path: str,
    key: str,
    body: dict[str, Any],
    token: str | None = None,
) -> dict[str, Any]:
    for _ in range(200):  # the card service learns of verifications from identity's events
        response = await _post(client, f"{urls.card}{path}", key, body, token)
        if response.json().get("code") != "IDENTITY_NOT_VERIFIED":
            break
        await asyncio.sleep(0.05)
    answer: dict[str, Any] = response.json()
    answer["status"] = response.status_code
    return answer


async def _produce_and_deliver(client: httpx.AsyncClient, urls: Endpoints, card_id: str) -> None:
    produced = {"card_number": "S123456789", "chip_serial": "A1B2C3D4E5F60708"}
    await _card(client, urls, f"/v1/cards/{card_id}/production", "agency", produced)
    mailed = {"courier": "EMS", "tracking_number": "EMS1234567890"}
    await _card(client, urls, f"/v1/cards/{card_id}/mailing", "courier", mailed)
    await _card(client, urls, f"/v1/cards/{card_id}/delivery", "courier", {})


async def card_scene(client: httpx.AsyncClient, urls: Endpoints, rng: random.Random) -> Showcase:
    """A failed production and a new application; an e-card claimed in a chosen region; the
    card lost, replaced, and the e-card following it."""
    scene = Showcase()
    citizen = fake_citizen(rng)
    person_id = await _register(client, urls, citizen)
    hall = await _sign_in(client, urls, citizen)
    application = {"person_id": person_id, "region": citizen.region, "photo_ref": "photo-1234"}
    first = await _card(client, urls, "/v1/applications", "channel", application, hall)
    failed = await _card(
        client,
        urls,
        f"/v1/cards/{first['card_id']}/production-failure",
        "agency",
        {"reason": "PHOTO_UNUSABLE"},
    )
    second = await _card(client, urls, "/v1/applications", "channel", application, hall)
    scene.lines.append(
        f"card for {mask_id_number(citizen.id_number)}: production {failed['events']}, "
        f"applied again: {second['status']}"
    )
    await _produce_and_deliver(client, urls, second["card_id"])
    claim_body = {"person_id": person_id, "region": citizen.region}
    app = await _sign_in(client, urls, citizen, "dev-citizen-app")
    claim = await _card(client, urls, "/v1/ecards", "dev-citizen-app", claim_body, app)
    scene.lines.append(f"e-card claimed in region {citizen.region}: {claim.get('events')}")
    ecard = f"/v1/ecards/{person_id}/activation"
    for _ in range(200):  # until the activation service learned of the claim
        activated = await _post(
            client, f"{urls.activation}{ecard}", "dev-citizen-app", {"password": "258036"}, app
        )
        if activated.json().get("code") != "E_CARD_NOT_CLAIMED":
            break
        await asyncio.sleep(0.05)
    scene.lines.append(f"e-card password set, e-card active: {activated.json().get('events')}")
    scene.outcomes["ecard_activation"] = activated.status_code == 201
    lost = await _card(
        client, urls, f"/v1/cards/{second['card_id']}/loss", "dev-window", {"kind": "formal"}
    )
    replaced = await _card(
        client, urls, f"/v1/cards/{second['card_id']}/replacement", "dev-window", {"reason": "loss"}
    )
    scene.lines.append(f"reported lost: {lost.get('events')}; replaced: {replaced.get('events')}")
    await _produce_and_deliver(client, urls, replaced["card_id"])
    card = await client.get(
        f"{urls.card}/v1/cards/{replaced['card_id']}",
        headers={"X-Api-Key": KEYS["operator"], "X-Access-Reason": "CITIZEN_REQUEST"},
    )
    scene.lines.append(f"the replacement is {card.json()['status']}; the e-card moved to it")
    scene.outcomes["failed_production"] = failed.get("events") == ["CardProductionFailed"]
    scene.outcomes["ecard_claim"] = claim.get("status") == 201
    scene.outcomes["replacement"] = replaced.get("status") == 201
    return scene


async def _delivered_card(
    client: httpx.AsyncClient, urls: Endpoints, rng: random.Random, delivery: str = "mail"
) -> tuple[Citizen, str, str]:
    citizen = fake_citizen(rng)
    person_id = await _register(client, urls, citizen)
    hall = await _sign_in(client, urls, citizen)
    body = {
        "person_id": person_id,
        "region": citizen.region,
        "photo_ref": "photo-demo",
        "delivery": delivery,
    }
    card_id = (await _card(client, urls, "/v1/applications", "channel", body, hall))["card_id"]
    await _produce_and_deliver(client, urls, card_id)
    return citizen, person_id, card_id


async def _activation(
    client: httpx.AsyncClient,
    urls: Endpoints,
    path: str,
    key: str,
    body: dict[str, Any],
    token: str | None = None,
) -> dict[str, Any]:
    for _ in range(200):  # until the activation service learned of the card's last event
        response = await _post(client, f"{urls.activation}{path}", key, body, token)
        if response.json().get("code") not in ("CARD_NOT_FOUND", "CARD_NOT_DELIVERED"):
            break
        await asyncio.sleep(0.05)
    answer: dict[str, Any] = response.json()
    answer["status"] = response.status_code
    return answer


async def _pharmacy(
    client: httpx.AsyncClient, urls: Endpoints, rng: random.Random, scene: Showcase
) -> bool:
    """A lost card replaced; at a pharmacy the old card, then the new one."""
    _, person_id, old = await _delivered_card(client, urls, rng)
    await _card(client, urls, f"/v1/cards/{old}/loss", "dev-window", {"kind": "formal"})
    replaced = await _card(
        client, urls, f"/v1/cards/{old}/replacement", "dev-window", {"reason": "loss"}
    )
    new = replaced["card_id"]
    await _produce_and_deliver(client, urls, new)
    switch = {"old_card_id": old, "new_card_id": new, "person_id": person_id}
    answer = await _activation(client, urls, "/v1/pharmacy/card-switch", "dev-pharmacy", switch)
    scene.lines.append(f"at a pharmacy, old card then new card: {answer.get('events')}")
    return bool(answer["status"] == 201)


async def activation_scene(
    client: httpx.AsyncClient, urls: Endpoints, rng: random.Random
) -> Showcase:
    """Each channel activates by its rule; a password is changed, locked by a brute force,
    and unlocked at a window."""
    scene = Showcase()
    ways: list[tuple[str, str, str, dict[str, Any]]] = [
        ("window", "dev-window", "/v1/activations", {"id_checked": True}),
        ("online hall", "channel", "/v1/activations", {}),
        ("bank outlet", "dev-bank", "/v1/activations", {"id_checked": True}),
        ("hospital", "dev-hospital", "/v1/hospital/registrations", {"kind": "outpatient"}),
    ]
    ok = True
    card_id = person_id = id_number = ""
    holder = None
    for name, key, path, extra in ways:
        holder, person_id, card_id = await _delivered_card(client, urls, rng)
        id_number = holder.id_number
        body = {"card_id": card_id, "person_id": person_id, **extra}
        token = await _sign_in(client, urls, holder) if key == "channel" else None
        answer = await _activation(client, urls, path, key, body, token)
        scene.lines.append(f"activated at the {name}: {answer.get('events', answer.get('code'))}")
        ok &= answer["status"] == 201
    password = f"{urls.activation}/v1/cards/{card_id}/password"
    settle = f"{urls.activation}/v1/settlements/authorize"

    async def settlement(pin: str) -> httpx.Response:
        return await _post(client, settle, "dev-hospital", {"card_id": card_id, "password": pin})

    first = await settlement("123456")
    assert holder is not None
    app = await _sign_in(client, urls, holder, "dev-citizen-app")
    # The birth date's year and month, never sent by the caller: the platform knows it.
    from_id = {"current_password": "123456", "new_password": id_number[6:12]}
    weak = (await _post(client, password, "dev-citizen-app", from_id, app)).json().get("code")
    change = {"current_password": "123456", "new_password": "135792"}
    changed = await _post(client, password, "dev-citizen-app", change, app)
    codes = [(await settlement(f"{n:06d}")).json()["code"] for n in range(100000, 100006)]
    proof = {"person_id": person_id, "id_checked": True}
    unlocked = await _post(client, f"{password}/recovery", "dev-window", proof)
    # Online, the holder asks for a one-time code, reads it in the SMS, and sends it back.
    await client.put(
        f"{urls.notification}/v1/persons/{person_id}/preferences",
        json={"channels": ["app_push", "sms"], "phone": holder.phone},
        headers=_headers("dev-citizen-app", app),
    )
    code = await _sms_code(client, urls, person_id, holder.phone, app)
    online = {"person_id": person_id, "sms_code": code, "new_password": "246810"}
    reset = await _post(client, f"{password}/recovery", "dev-citizen-app", online, app)
    after = await settlement("246810")
    scene.lines.append(
        f"password: settlement with the initial one {first.json().get('code')}; one taken "
        f"from the ID number {weak}; changed "
        f"{changed.status_code}; six wrong entries {codes[-2]}..{codes[-1]}; unlocked at a "
        f"window {unlocked.status_code}; reset online with the code sent by SMS and a face check "
        f"{reset.json().get('outcome')}; settlement {after.json().get('outcome')}"
    )
    ok &= await _pharmacy(client, urls, rng, scene)
    scene.outcomes["activation_channels"] = ok
    scene.outcomes["password_lock"] = codes[-1] == "PASSWORD_LOCKED" and after.status_code == 200
    scene.outcomes["password_from_id_number"] = weak == "PASSWORD_WEAK"
    return scene


async def _sms_code(
    client: httpx.AsyncClient, urls: Endpoints, person_id: str, phone: str, token: str
) -> dict[str, str] | None:
    """Ask for a one-time code and read it from the SMS the gateway got (the local sink)."""
    asked = await _post(
        client, f"{urls.activation}/v1/persons/{person_id}/sms-codes", "dev-citizen-app", {}, token
    )
    if asked.status_code != 201 or urls.sink is None:
        return None
    for _ in range(200):
        sms = await client.get(f"{urls.sink}/messages", params={"kind": "sms", "to": phone})
        texts = [str(m["text"]) for m in sms.json() if "验证码" in str(m["text"])]
        found = [re.search(r"验证码为(\d{6})", t) for t in texts]
        coded = [m for m in found if m]
        if coded:
            return {"code_id": asked.json()["code_id"], "code": coded[-1].group(1)}
        await asyncio.sleep(0.05)
    return None


async def _until_code(
    client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any], code: str
) -> dict[str, Any]:
    """Post until the answer's code is ``code`` (the activation service learns of a card
    event a moment later), at most 10 s."""
    answer: dict[str, Any] = {}
    for _ in range(200):
        answer = (await _post(client, url, key, body)).json()
        if answer.get("code") == code:
            break
        await asyncio.sleep(0.05)
    return answer


async def payment_scene(client: httpx.AsyncClient, urls: Endpoints, rng: random.Random) -> Showcase:
    """The e-card shows a one-minute QR code that a pharmacy redeems once; after a loss
    report the card and the e-card stop paying."""
    scene = Showcase()
    citizen, person_id, card_id = await _delivered_card(client, urls, rng)
    activate = {"card_id": card_id, "person_id": person_id, "id_checked": True}
    await _activation(client, urls, "/v1/activations", "dev-window", activate)
    change = {"current_password": "123456", "new_password": "135792"}
    await _post(client, f"{urls.activation}/v1/cards/{card_id}/password", "dev-window", change)
    ecard = {"person_id": person_id, "region": citizen.region}
    app = await _sign_in(client, urls, citizen, "dev-citizen-app")
    await _card(client, urls, "/v1/ecards", "dev-citizen-app", ecard, app)
    ecard_url = f"{urls.activation}/v1/ecards/{person_id}"
    for _ in range(200):  # until the activation service learned of the claim
        set_pin = await _post(
            client, f"{ecard_url}/activation", "dev-citizen-app", {"password": "135792"}, app
        )
        if set_pin.status_code != 404:
            break
        await asyncio.sleep(0.05)
    shown = (await _post(client, f"{ecard_url}/payment-codes", "dev-citizen-app", {}, app)).json()
    redeem = f"{urls.activation}/v1/payment-codes/redeem"
    pay = {"code": shown.get("payload", ""), "password": "135792", "amount_fen": 4200}
    paid = (await _post(client, redeem, "dev-pharmacy", pay)).json()
    again = (await _post(client, redeem, "dev-pharmacy", pay)).json()
    scene.lines.append(
        f"e-card QR code ({len(shown.get('qr_svg', ''))} bytes of SVG, until "
        f"{shown.get('expires_at')}): at a pharmacy {paid.get('outcome', paid.get('code'))}; "
        f"the same code again {again.get('code')}"
    )
    await _card(client, urls, f"/v1/cards/{card_id}/loss", "dev-window", {"kind": "temporary"})
    settle = {"card_id": card_id, "password": "135792"}
    url = f"{urls.activation}/v1/settlements/authorize"
    refused = await _until_code(client, url, "dev-hospital", settle, "CARD_REPORTED_LOST")
    no_code = (await _post(client, f"{ecard_url}/payment-codes", "dev-citizen-app", {}, app)).json()
    scene.lines.append(
        f"after a loss report: settlement {refused.get('code')}; e-card code {no_code.get('code')}"
    )
    scene.outcomes["qr_payment"] = (
        paid.get("outcome") == "authorized" and again.get("code") == "PAYMENT_CODE_USED"
    )
    scene.outcomes["refused_after_loss"] = (
        refused.get("code") == no_code.get("code") == "CARD_REPORTED_LOST"
    )
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
            part = await scene(client, urls, rng)
            result.lines.extend(part.lines)
            result.outcomes.update(part.outcomes)
    return result
