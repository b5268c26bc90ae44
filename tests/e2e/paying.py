"""A citizen whose card pays: activated, its password changed, paying at a hospital or with
the e-card; shared by the money-path tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from deploy.stack import ServiceProcess
from tests.e2e.test_activation import activation
from tests.e2e.test_cards import Api

PASSWORD = "135792"


class Paying:
    """A citizen with an activated card whose password is changed, paying at a hospital."""

    def __init__(self, client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
        self.client = client
        self.api = Api(client, services)
        self.url = services["activation"].url
        self.person_id = ""
        self.card_id = ""
        self.region = ""
        self.phone = ""

    async def ready(self, seed: int) -> Paying:
        citizen, self.person_id = await self.api.verified_citizen(seed)
        self.region = citizen.region
        self.phone = citizen.phone
        self.card_id = await self.api.apply(self.person_id, citizen.region)
        await self.api.deliver(self.card_id)
        await self.activate(self.card_id, expect=201)
        changed = await self.client.post(
            f"{self.url}/v1/cards/{self.card_id}/password",
            headers={"X-Api-Key": "dev-window"},
            json={"current_password": "123456", "new_password": PASSWORD},
        )
        assert changed.status_code == 201, changed.text
        return self

    async def activate(self, card_id: str, expect: int) -> httpx.Response:
        body = {"card_id": card_id, "person_id": self.person_id, "id_checked": True}
        response = await activation(self.client, self.url, "/v1/activations", "dev-window", body)
        assert response.status_code == expect, response.text
        return response

    async def settle(self, card_id: str | None = None) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.url}/v1/settlements/authorize",
            headers={"X-Api-Key": "dev-hospital"},
            json={
                "card_id": card_id or self.card_id,
                "password": PASSWORD,
                "amount_fen": 12_345,
                "facility_id": "H-4101-001",
            },
        )
        assert response.status_code in (200, 409, 423), response.text
        body: dict[str, Any] = response.json()
        return body

    async def pay_with_ecard(self, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.url}/v1/ecards/{self.person_id}/payments/authorize",
            headers={"X-Api-Key": "dev-pharmacy"},
            json={"password": password},
        )
        body: dict[str, Any] = response.json()
        return body

    async def claim_ecard(self) -> None:
        claim = {"person_id": self.person_id, "region": self.region}
        claimed = await self.api.post("/v1/ecards", "dev-citizen-app", claim, self.person_id)
        assert claimed.status_code == 201, claimed.text

    async def set_ecard_password(self) -> dict[str, Any]:
        """Set the e-card's password (once the activation service learned of the claim)."""
        response = await self.client.post(
            f"{self.url}/v1/ecards/{self.person_id}/activation",
            headers=self.api.headers("dev-citizen-app", self.person_id),
            json={"password": PASSWORD},
        )
        body: dict[str, Any] = response.json()
        return {"outcome": "set"} if response.status_code == 201 else body

    async def show_code(self, key: str = "dev-citizen-app") -> dict[str, Any]:
        """Ask for an e-card payment code through the channel of ``key``."""
        response = await self.client.post(
            f"{self.url}/v1/ecards/{self.person_id}/payment-codes",
            headers=self.api.headers(key, self.person_id),
        )
        body: dict[str, Any] = response.json()
        return {**body, "outcome": "shown"} if response.status_code == 201 else body

    async def history(self) -> list[dict[str, Any]]:
        """The holder's history in the activation service, in order."""
        response = await self.client.get(
            f"{self.url}/v1/persons/{self.person_id}/events",
            headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
        )
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()
        return events

    async def settlements(self) -> list[tuple[str, str | None]]:
        """Each settlement recorded for the holder: its event type and refusal reason."""
        return [
            (e["event_type"], e["payload"].get("reason"))
            for e in await self.history()
            if e["event_type"] in ("SettlementAuthorized", "SettlementRefused")
        ]

    async def card(self, path: str, body: dict[str, Any]) -> httpx.Response:
        response = await self.api.post(f"/v1/cards/{self.card_id}/{path}", "dev-window", body)
        assert response.status_code == 201, response.text
        return response


async def until(answer: Any, expected: str, tries: int = 200) -> dict[str, Any]:
    """Ask until the answer's code (or outcome) is ``expected``: the activation service learns
    of the card service's events a moment later."""
    for _ in range(tries):
        body: dict[str, Any] = await answer()
        if expected in (body.get("code"), body.get("outcome")):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {expected}: {body}")
