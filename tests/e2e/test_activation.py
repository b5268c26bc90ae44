"""Activation by each channel through the real APIs, and the medical account following a
replacement exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from deploy.stack import Infrastructure, ServiceProcess
from shared.topics import ACTIVATION_EVENTS
from tests.e2e.harness import envelope_of, read_records
from tests.e2e.test_cards import Api


async def activation(
    client: httpx.AsyncClient, url: str, path: str, key: str, body: dict[str, Any]
) -> httpx.Response:
    """Retry while the activation service has not yet learned of the card's last event."""
    for _ in range(200):
        response = await client.post(f"{url}{path}", json=body, headers={"X-Api-Key": key})
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
