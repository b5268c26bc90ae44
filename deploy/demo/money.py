"""The demo's money-path scenes: each channel activating by its rule, passwords (with the code
sent by SMS), a pharmacy switching cards, and the e-card's QR code paying once."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import httpx

from deploy.demo import scenes as kit
from deploy.demo.scenes import Showcase
from deploy.endpoints import Endpoints


async def _pharmacy(
    client: httpx.AsyncClient, urls: Endpoints, rng: random.Random, scene: Showcase
) -> bool:
    """A lost card replaced; at a pharmacy the old card, then the new one."""
    _, person_id, old = await kit.delivered_card(client, urls, rng)
    await kit.card(client, urls, f"/v1/cards/{old}/loss", "dev-window", {"kind": "formal"})
    replaced = await kit.card(
        client, urls, f"/v1/cards/{old}/replacement", "dev-window", {"reason": "loss"}
    )
    new = replaced["card_id"]
    await kit.produce_and_deliver(client, urls, new)
    switch = {"old_card_id": old, "new_card_id": new, "person_id": person_id}
    answer = await kit.activation(client, urls, "/v1/pharmacy/card-switch", "dev-pharmacy", switch)
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
        holder, person_id, card_id = await kit.delivered_card(client, urls, rng)
        id_number = holder.id_number
        body = {"card_id": card_id, "person_id": person_id, **extra}
        token = await kit.sign_in(client, urls, holder) if key == "channel" else None
        answer = await kit.activation(client, urls, path, key, body, token)
        scene.lines.append(f"activated at the {name}: {answer.get('events', answer.get('code'))}")
        ok &= answer["status"] == 201
    password = f"{urls.activation}/v1/cards/{card_id}/password"
    settle = f"{urls.activation}/v1/settlements/authorize"

    async def settlement(pin: str) -> httpx.Response:
        return await kit.post(client, settle, "dev-hospital", {"card_id": card_id, "password": pin})

    first = await settlement("123456")
    assert holder is not None
    app = await kit.sign_in(client, urls, holder, "dev-citizen-app")
    # The birth date's year and month, never sent by the caller: the platform knows it.
    from_id = {"current_password": "123456", "new_password": id_number[6:12]}
    weak = (await kit.post(client, password, "dev-citizen-app", from_id, app)).json().get("code")
    change = {"current_password": "123456", "new_password": "135792"}
    changed = await kit.post(client, password, "dev-citizen-app", change, app)
    codes = [(await settlement(f"{n:06d}")).json()["code"] for n in range(100000, 100006)]
    proof = {"person_id": person_id, "id_checked": True}
    unlocked = await kit.post(client, f"{password}/recovery", "dev-window", proof)
    # Online, the holder asks for a one-time code, reads it in the SMS, and sends it back.
    await client.put(
        f"{urls.notification}/v1/persons/{person_id}/preferences",
        json={"channels": ["app_push", "sms"], "phone": holder.phone},
        headers=kit.headers("dev-citizen-app", app),
    )
    code = await _sms_code(client, urls, person_id, holder.phone, app)
    online = {"person_id": person_id, "sms_code": code, "new_password": "246810"}
    reset = await kit.post(client, f"{password}/recovery", "dev-citizen-app", online, app)
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
    asked = await kit.post(
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


async def payment_scene(client: httpx.AsyncClient, urls: Endpoints, rng: random.Random) -> Showcase:
    """The e-card shows a one-minute QR code that a pharmacy redeems once; after a loss
    report the card and the e-card stop paying."""
    scene = Showcase()
    citizen, person_id, card_id = await kit.delivered_card(client, urls, rng)
    activate = {"card_id": card_id, "person_id": person_id, "id_checked": True}
    await kit.activation(client, urls, "/v1/activations", "dev-window", activate)
    change = {"current_password": "123456", "new_password": "135792"}
    await kit.post(client, f"{urls.activation}/v1/cards/{card_id}/password", "dev-window", change)
    ecard = {"person_id": person_id, "region": citizen.region}
    app = await kit.sign_in(client, urls, citizen, "dev-citizen-app")
    await kit.card(client, urls, "/v1/ecards", "dev-citizen-app", ecard, app)
    ecard_url = f"{urls.activation}/v1/ecards/{person_id}"
    for _ in range(200):  # until the activation service learned of the claim
        set_pin = await kit.post(
            client, f"{ecard_url}/activation", "dev-citizen-app", {"password": "135792"}, app
        )
        if set_pin.status_code != 404:
            break
        await asyncio.sleep(0.05)
    shown = (
        await kit.post(client, f"{ecard_url}/payment-codes", "dev-citizen-app", {}, app)
    ).json()
    redeem = f"{urls.activation}/v1/payment-codes/redeem"
    pay = {"code": shown.get("payload", ""), "password": "135792", "amount_fen": 4200}
    paid = (await kit.post(client, redeem, "dev-pharmacy", pay)).json()
    again = (await kit.post(client, redeem, "dev-pharmacy", pay)).json()
    scene.lines.append(
        f"e-card QR code ({len(shown.get('qr_svg', ''))} bytes of SVG, until "
        f"{shown.get('expires_at')}): at a pharmacy {paid.get('outcome', paid.get('code'))}; "
        f"the same code again {again.get('code')}"
    )
    await kit.card(client, urls, f"/v1/cards/{card_id}/loss", "dev-window", {"kind": "temporary"})
    settle = {"card_id": card_id, "password": "135792"}
    url = f"{urls.activation}/v1/settlements/authorize"
    refused = await kit.until_code(client, url, "dev-hospital", settle, "CARD_REPORTED_LOST")
    no_code = (
        await kit.post(client, f"{ecard_url}/payment-codes", "dev-citizen-app", {}, app)
    ).json()
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
