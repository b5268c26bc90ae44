"""Activation by each channel through the real APIs, and the medical account following a
replacement exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from deploy.demo.citizens import face_check_for
from deploy.stack import Infrastructure, ServiceProcess
from shared.topics import ACTIVATION_EVENTS
from tests.e2e.harness import (
    as_citizen,
    choose_sms,
    envelope_of,
    read_records,
    receive_sms_code,
)
from tests.e2e.test_cards import Api


async def activation(
    client: httpx.AsyncClient,
    url: str,
    path: str,
    key: str,
    body: dict[str, Any],
    token: str | None = None,
) -> httpx.Response:
    """Retry while the activation service has not yet learned of the card's last event."""
    for _ in range(200):
        response = await client.post(f"{url}{path}", json=body, headers=as_citizen(key, token))
        if response.json().get("code") not in ("CARD_NOT_FOUND", "CARD_NOT_DELIVERED"):
            return response
        await asyncio.sleep(0.05)
    return response


async def test_window_bank_and_hospital_each_activate_by_their_rule(
    services: dict[str, ServiceProcess],
) -> None:
    url = services["activation"].url
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(client, services)
        activated = {}
        for seed, key, path, extra in (
            (51, "dev-window", "/v1/activations", {"id_checked": True}),
            (52, "dev-bank", "/v1/activations", {"id_checked": True}),
            (53, "dev-hospital", "/v1/hospital/registrations", {"kind": "outpatient"}),
        ):
            citizen, person_id = await api.verified_citizen(seed)
            card_id = await api.apply(person_id, citizen.region)
            await api.deliver(card_id)
            body = {"card_id": card_id, "person_id": person_id, **extra}
            if key != "dev-hospital":
                unchecked = await activation(client, url, path, key, {**body, "id_checked": False})
                assert unchecked.json()["code"] == "ID_CHECK_REQUIRED"
            first = await activation(client, url, path, key, body)
            assert first.status_code == 201, first.text
            assert first.json()["events"] == ["CardActivated", "MedicalAccountEnabled"]
            second = await activation(client, url, path, key, body)
            assert (second.status_code, second.json()["already_active"]) == (200, True)
            activated[key] = first.json()["channel"]
            if key == "dev-bank":
                path = f"/v1/cards/{card_id}/financial-function"
                bank = {"person_id": person_id, "id_checked": True}
                financial = await activation(client, url, path, key, bank)
                assert financial.json()["events"] == ["FinancialFunctionActivated"]
                again = await activation(client, url, path, key, bank)
                assert again.json()["already_active"] is True
    assert activated == {"dev-window": "window", "dev-bank": "bank", "dev-hospital": "hospital"}


async def test_the_pharmacy_moves_the_account_to_the_replacement_once(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    url = services["activation"].url
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(client, services)
        citizen, person_id = await api.verified_citizen(54)
        old = await api.apply(person_id, citizen.region)
        await api.deliver(old)
        await api.post(f"/v1/cards/{old}/loss", "dev-window", {"kind": "formal"})
        new = (
            await api.post(f"/v1/cards/{old}/replacement", "dev-window", {"reason": "loss"})
        ).json()["card_id"]
        await api.deliver(new)
        switch = {"old_card_id": "some-other-card", "new_card_id": new, "person_id": person_id}
        wrong = await activation(client, url, "/v1/pharmacy/card-switch", "dev-pharmacy", switch)
        assert wrong.json()["code"] == "OLD_CARD_MISMATCH"
        switch["old_card_id"] = old
        answers = await asyncio.gather(
            *(
                activation(client, url, "/v1/pharmacy/card-switch", "dev-pharmacy", switch)
                for _ in range(3)
            )
        )
    assert sorted(a.status_code for a in answers) == [200, 200, 201]
    records = await read_records(
        infra.bootstrap_servers,
        [ACTIVATION_EVENTS],
        keep=lambda r: r.key == person_id.encode(),
        done=lambda kept: any(envelope_of(r).event_type == "MedicalAccountMoved" for r in kept),
    )
    moved = [envelope_of(r) for r in records if envelope_of(r).event_type == "MedicalAccountMoved"]
    assert [(m.payload["from_card_id"], m.payload["to_card_id"]) for m in moved] == [(old, new)]


async def test_passwords_change_settle_lock_and_unlock(services: dict[str, ServiceProcess]) -> None:
    url = services["activation"].url
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)
        citizen, person_id = await api.verified_citizen(55)
        card_id = await api.apply(person_id, citizen.region)
        await api.deliver(card_id)
        body = {"card_id": card_id, "person_id": person_id}
        hall = api.tokens[(person_id, "dev-online-hall")]
        assert (
            await activation(client, url, "/v1/activations", "dev-online-hall", body, hall)
        ).status_code == 201

        async def settle(password: str) -> httpx.Response:
            return await client.post(
                f"{url}/v1/settlements/authorize",
                headers={"X-Api-Key": "dev-hospital"},
                json={"card_id": card_id, "password": password},
            )

        assert (await settle("123456")).json()["code"] == "PASSWORD_CHANGE_REQUIRED"
        change = {"current_password": "123456", "new_password": "135792"}
        weak = await client.post(
            f"{url}/v1/cards/{card_id}/password",
            headers=api.headers("dev-citizen-app", person_id),
            json={**change, "new_password": "654321"},
        )
        assert (weak.status_code, weak.json()["code"]) == (422, "PASSWORD_WEAK")
        assert "654321" not in weak.text
        changed = await client.post(
            f"{url}/v1/cards/{card_id}/password",
            headers=api.headers("dev-citizen-app", person_id),
            json=change,
        )
        assert changed.status_code == 201, changed.text
        assert (await settle("135792")).json()["outcome"] == "authorized"
        # A brute force at once: exactly six wrong entries lock it, none gets through.
        guesses = await asyncio.gather(*(settle(f"{n:06d}") for n in range(100000, 100012)))
        codes = Counter(g.json()["code"] for g in guesses)
        assert codes["PASSWORD_WRONG"] == 5, codes
        assert codes["PASSWORD_LOCKED"] >= 1, codes
        assert set(codes) <= {"PASSWORD_WRONG", "PASSWORD_LOCKED", "CONCURRENT_UPDATE"}, codes
        assert (await settle("135792")).json()["code"] == "PASSWORD_LOCKED"
        unlock = await client.post(
            f"{url}/v1/cards/{card_id}/password/recovery",
            headers={"X-Api-Key": "dev-window"},
            json={"person_id": person_id, "id_checked": True},
        )
        assert unlock.json()["outcome"] == "unlocked", unlock.text
        assert (await settle("135792")).json()["outcome"] == "authorized"


async def test_the_ecard_is_activated_with_its_own_password(
    services: dict[str, ServiceProcess],
) -> None:
    url = services["activation"].url
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)
        citizen, person_id = await api.verified_citizen(56)
        card_id = await api.apply(person_id, citizen.region)
        await api.deliver(card_id)
        # The e-card pays only while the card it is bound to may pay: activated.
        body = {"card_id": card_id, "person_id": person_id}
        hall = api.tokens[(person_id, "dev-online-hall")]
        activated = await activation(client, url, "/v1/activations", "dev-online-hall", body, hall)
        assert activated.status_code == 201, activated.text
        claim = {"person_id": person_id, "region": citizen.region}
        claimed = await api.post("/v1/ecards", "dev-citizen-app", claim, person_id)
        assert claimed.status_code == 201
        path = f"/v1/ecards/{person_id}/activation"
        app = api.headers("dev-citizen-app", person_id)
        weak = await client.post(f"{url}{path}", headers=app, json={"password": "111111"})
        assert weak.json()["code"] == "PASSWORD_WEAK"
        for _ in range(200):  # until the activation service learned of the claim
            first = await client.post(f"{url}{path}", headers=app, json={"password": "258036"})
            if first.json().get("code") != "E_CARD_NOT_CLAIMED":
                break
            await asyncio.sleep(0.05)
        assert first.status_code == 201, first.text
        assert first.json()["events"] == ["PasswordSet", "CardActivated"]
        again = await client.post(f"{url}{path}", headers=app, json={"password": "258036"})
        assert again.json()["already_active"] is True

        async def pay(password: str) -> httpx.Response:
            return await client.post(
                f"{url}/v1/ecards/{person_id}/payments/authorize",
                headers={"X-Api-Key": "dev-pharmacy"},
                json={"password": password},
            )

        assert (await pay("258036")).json()["outcome"] == "authorized"
        codes = [(await pay(f"{n:06d}")).json()["code"] for n in range(100000, 100006)]
        assert codes == ["PASSWORD_WRONG"] * 5 + ["PASSWORD_LOCKED"]
        # No code is shown that could not be paid with.
        shown = await client.post(f"{url}/v1/ecards/{person_id}/payment-codes", headers=app)
        assert (shown.status_code, shown.json()["code"]) == (423, "PASSWORD_LOCKED")
        physical = await client.post(
            f"{url}/v1/settlements/authorize",
            headers={"X-Api-Key": "dev-pharmacy"},
            json={"card_id": card_id, "password": "123456"},
        )
        assert physical.json()["code"] != "PASSWORD_LOCKED", "the physical card is untouched"
        await choose_sms(client, services["notification"].url, person_id, citizen.phone, app)
        code = await receive_sms_code(client, services, person_id, citizen.phone, app)
        reset = await client.post(
            f"{url}/v1/ecards/{person_id}/password/recovery",
            headers=app,
            json={"person_id": person_id, "sms_code": code, "new_password": "369147"},
        )
        assert reset.json()["outcome"] == "reset", reset.text
        assert (await pay("369147")).json()["outcome"] == "authorized"


async def test_a_holder_helps_a_member_they_linked_activate_never_the_other_way_round(
    services: dict[str, ServiceProcess],
) -> None:
    url = services["activation"].url
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)
        holder, holder_id = await api.verified_citizen(57)
        member, member_id = await api.verified_citizen(58)
        card_id = await api.apply(member_id, member.region)
        await api.deliver(card_id)
        holder_card = await api.apply(holder_id, holder.region)
        await api.deliver(holder_card)
        body = {"card_id": card_id, "person_id": member_id}
        as_holder = api.tokens[(holder_id, "dev-citizen-app")]
        refused = await activation(
            client, url, "/v1/activations", "dev-citizen-app", body, as_holder
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "PERSON_FORBIDDEN")
        linked = await client.post(
            f"{api.identity}/v1/persons/{holder_id}/family",
            headers=api.headers("dev-citizen-app", holder_id),
            json={
                "name": member.name,
                "id_number": member.id_number,
                "relation": "parent",
                "face_check": face_check_for(member).model_dump(mode="json"),
                "member_token": api.tokens[(member_id, "dev-citizen-app")],
            },
        )
        assert linked.status_code == 201, linked.text
        grant = await api.grant(holder_id, member_id)
        for _ in range(200):  # until the activation service learned of the link
            helped = await client.post(
                f"{url}/v1/activations",
                json=body,
                headers=api.headers("dev-citizen-app", holder_id, grant),
            )
            if helped.status_code != 403:
                break
            await asyncio.sleep(0.05)
        assert helped.status_code == 201, helped.text
        assert helped.json()["events"][0] == "CardActivated"
        history = await client.get(
            f"{url}/v1/persons/{member_id}/events",
            headers=api.headers("dev-citizen-app", member_id),
        )
        acts = [e for e in history.json() if e["event_type"] == "CardActivated"]
        assert [e["payload"].get("acting_person_id") for e in acts] == [holder_id]
        # The member may not activate the holder's card: delegation runs one way.
        backwards = await activation(
            client,
            url,
            "/v1/activations",
            "dev-citizen-app",
            {"card_id": holder_card, "person_id": holder_id},
            api.tokens[(member_id, "dev-citizen-app")],
        )
    assert (backwards.status_code, backwards.json()["code"]) == (403, "PERSON_FORBIDDEN")
