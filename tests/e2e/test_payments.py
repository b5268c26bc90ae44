"""The money path across services: a card reported lost or replaced in the card service stops
settlements decided in the activation service, the e-card stops with its card, and a card
still in the mail is not activated."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from deploy.stack import ServiceProcess
from tests.e2e.paying import PASSWORD, Paying, until
from tests.e2e.test_cards import Api


async def test_a_lost_card_stops_paying_and_the_old_card_never_pays_after_a_replacement(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        citizen = await Paying(client, services).ready(71)
        assert (await citizen.settle())["outcome"] == "authorized"

        await citizen.card("loss", {"kind": "temporary"})
        refused = await until(citizen.settle, "CARD_REPORTED_LOST")
        assert "lost" in refused["message"]
        await citizen.card("unblock", {})
        await until(citizen.settle, "authorized")

        await citizen.card("loss", {"kind": "formal"})
        await until(citizen.settle, "CARD_REPORTED_LOST")
        old = citizen.card_id
        new = (await citizen.card("replacement", {"reason": "loss"})).json()["card_id"]
        await until(lambda: citizen.settle(old), "CARD_REPLACED")
        # Activating the old card again is refused, not answered as already active.
        again = await citizen.activate(old, expect=409)
        assert again.json()["code"] == "CARD_NO_LONGER_VALID"
        # The replacement is not in hand yet: it may not pay either.
        await until(lambda: citizen.settle(new), "CARD_NOT_DELIVERED")

        # Every settlement is in the holder's history: where, how much (a band), and why not.
        recorded = await citizen.settlements()
        assert recorded[0] == ("SettlementAuthorized", None)
        assert ("SettlementRefused", "CARD_REPORTED_LOST") in recorded
        assert ("SettlementRefused", "CARD_REPLACED") in recorded
        history = await citizen.history()
        first = next(e for e in history if e["event_type"] == "SettlementAuthorized")
        assert first["payload"]["amount_band"] == "100_to_500"
        assert (first["payload"]["channel"], first["payload"]["facility_id"]) == (
            "hospital",
            "H-4101-001",
        )


async def test_the_ecard_stops_while_its_card_is_lost_or_its_password_locked(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        citizen = await Paying(client, services).ready(72)
        await citizen.claim_ecard()
        await until(citizen.set_ecard_password, "set")
        assert (await citizen.pay_with_ecard())["outcome"] == "authorized"

        await citizen.card("loss", {"kind": "temporary"})
        await until(citizen.pay_with_ecard, "CARD_REPORTED_LOST")
        await citizen.card("unblock", {})
        await until(citizen.pay_with_ecard, "authorized")

        # Six wrong entries lock the physical card's password; the e-card stops with it.
        for n in range(6):
            await citizen.client.post(
                f"{citizen.url}/v1/settlements/authorize",
                headers={"X-Api-Key": "dev-hospital"},
                json={"card_id": citizen.card_id, "password": f"{100000 + n:06d}"},
            )
        assert (await citizen.settle())["code"] == "PASSWORD_LOCKED"
        await until(citizen.pay_with_ecard, "E_CARD_SUSPENDED")


async def test_a_card_in_the_mail_is_activated_only_once_delivered(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        citizen = Paying(client, services)
        holder, citizen.person_id = await citizen.api.verified_citizen(73)
        card_id = await citizen.api.apply(citizen.person_id, holder.region)
        await citizen.api.produce(card_id)
        mailed = await citizen.api.post(
            f"/v1/cards/{card_id}/mailing",
            "dev-courier",
            {"courier": "EMS", "tracking_number": "EMS1234567890"},
        )
        assert mailed.status_code == 201, mailed.text
        body = {"card_id": card_id, "person_id": citizen.person_id}

        async def online() -> dict[str, Any]:
            response = await client.post(
                f"{citizen.url}/v1/activations",
                headers=citizen.api.headers("dev-online-hall", citizen.person_id),
                json=body,
            )
            answer: dict[str, Any] = response.json()
            return {"outcome": "activated"} if response.status_code == 201 else answer

        # The activation service learns of the card a moment after it is applied for; from then
        # on, whether or not the mailing was learned yet, the answer is: not delivered.
        await until(online, "CARD_NOT_DELIVERED")
        for _ in range(10):
            assert (await online())["code"] == "CARD_NOT_DELIVERED"
            await asyncio.sleep(0.1)
        delivered = await citizen.api.post(f"/v1/cards/{card_id}/delivery", "dev-courier")
        assert delivered.status_code == 201, delivered.text
        await until(online, "activated")


async def test_the_ecard_is_one_per_person_nationally(services: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)
        for seed, at_once in ((74, False), (75, True)):
            citizen, person_id = await api.verified_citizen(seed)
            elsewhere = "310101" if citizen.region[:2] != "31" else "110105"
            for region in (citizen.region, elsewhere):  # a card in each of two provinces
                await api.deliver(await api.apply(person_id, region))

            async def claim(region: str, person_id: str = person_id) -> httpx.Response:
                body = {"person_id": person_id, "region": region}
                return await api.post("/v1/ecards", "dev-citizen-app", body, person_id)

            if at_once:
                answers = await asyncio.gather(claim(citizen.region), claim(elsewhere))
            else:
                answers = (await claim(citizen.region), await claim(elsewhere))
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [201, 409], [a.text for a in answers]
            refused = next(a for a in answers if a.status_code == 409)
            assert refused.json()["code"] == "E_CARD_ALREADY_CLAIMED"
            status = await api.client.get(
                f"{api.card}/v1/persons/{person_id}/events",
                headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
            )
            claims = [e for e in status.json() if e["event_type"] == "ECardClaimed"]
            assert len(claims) == 1, claims


async def test_settlements_during_a_loss_report_are_each_answered_and_recorded_once(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        citizen = await Paying(client, services).ready(76)
        before = len(await citizen.settlements())

        async def report() -> dict[str, Any]:
            await citizen.card("loss", {"kind": "temporary"})
            return {}

        answers = await asyncio.gather(
            *(citizen.settle() for _ in range(12)), report(), *(citizen.settle() for _ in range(12))
        )
        told = [a.get("outcome") or a.get("code") for a in answers if a]
        assert set(told) <= {"authorized", "CARD_REPORTED_LOST"}, told
        # Nothing half-recorded: one recorded settlement for each answer, with its outcome.
        recorded = (await citizen.settlements())[before:]
        assert sorted(r[1] or "authorized" for r in recorded) == sorted(told)
        # Once the loss is known, nothing more is authorised.
        await until(citizen.settle, "CARD_REPORTED_LOST")
        assert [(await citizen.settle())["code"] for _ in range(3)] == ["CARD_REPORTED_LOST"] * 3


async def test_a_wrong_password_never_pays_while_a_loss_report_is_lifted(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        citizen = await Paying(client, services).ready(78)

        async def wrong() -> str:
            response = await client.post(
                f"{citizen.url}/v1/settlements/authorize",
                headers={"X-Api-Key": "dev-hospital"},
                json={"card_id": citizen.card_id, "password": "975310"},
            )
            body: dict[str, Any] = response.json()
            return str(body.get("outcome") or body.get("code"))

        told: list[str] = []
        for _ in range(3):  # terminals keep trying while the holder lifts the loss report
            await citizen.card("loss", {"kind": "temporary"})
            await until(citizen.settle, "CARD_REPORTED_LOST")
            unblock = asyncio.create_task(citizen.card("unblock", {}))
            for _ in range(40):
                told += await asyncio.gather(*(wrong() for _ in range(6)))
                if unblock.done() and "PASSWORD_WRONG" in told[-6:]:
                    break
            await unblock
            # Unlock what the wrong entries locked, for the next round.
            await client.post(
                f"{citizen.url}/v1/cards/{citizen.card_id}/password/recovery",
                headers={"X-Api-Key": "dev-window"},
                json={"person_id": citizen.person_id, "id_checked": True},
            )
        assert "authorized" not in told, told
        assert set(told) <= {"CARD_REPORTED_LOST", "PASSWORD_WRONG", "PASSWORD_LOCKED"}, told


async def test_a_password_that_is_no_text_is_refused_not_a_500(
    services: dict[str, ServiceProcess],
) -> None:
    """A lone UTF-16 surrogate parses as JSON but is no character: every route that checks a
    password answers 422 and the card pays as before."""
    async with httpx.AsyncClient(timeout=60) as client:
        citizen = await Paying(client, services).ready(79)
        await citizen.claim_ecard()
        await until(citizen.set_ecard_password, "set")
        code = (await citizen.show_code())["payload"]
        bad = "12345\\udc00"  # escaped in the JSON text, as a careless client would send it
        for path, key, body in (
            (
                "/v1/settlements/authorize",
                "dev-hospital",
                f'{{"card_id": "{citizen.card_id}", "password": "{bad}"}}',
            ),
            (
                f"/v1/cards/{citizen.card_id}/password",
                "dev-window",
                f'{{"current_password": "{bad}", "new_password": "246813"}}',
            ),
            (
                f"/v1/ecards/{citizen.person_id}/payments/authorize",
                "dev-pharmacy",
                f'{{"password": "{bad}"}}',
            ),
            (
                "/v1/payment-codes/redeem",
                "dev-pharmacy",
                f'{{"code": "{code}", "password": "{bad}"}}',
            ),
        ):
            answer = await client.post(
                f"{citizen.url}{path}",
                content=body.encode(),
                headers={"X-Api-Key": key, "content-type": "application/json"},
            )
            assert (answer.status_code, answer.json()["code"]) == (422, "TEXT_INVALID"), path
        assert (await citizen.settle())["outcome"] == "authorized"
        assert (await citizen.pay_with_ecard())["outcome"] == "authorized"


async def test_the_ecard_moves_with_the_holder_once_its_card_is_cancelled(
    services: dict[str, ServiceProcess],
) -> None:
    """A holder moving province: the e-card leaves the cancelled card for their valid card in
    the new province by an explicit move (ECardMoved), never while the old card is valid."""
    async with httpx.AsyncClient(timeout=60) as client:
        citizen = await Paying(client, services).ready(80)
        api = citizen.api
        elsewhere = "310101" if citizen.region[:2] != "31" else "110105"
        new_card = await api.apply(citizen.person_id, elsewhere)
        await api.deliver(new_card)
        await citizen.activate(new_card, expect=201)
        change = {"current_password": "123456", "new_password": PASSWORD}
        changed = await client.post(
            f"{citizen.url}/v1/cards/{new_card}/password",
            headers={"X-Api-Key": "dev-window"},
            json=change,
        )
        assert changed.status_code == 201, changed.text
        await citizen.claim_ecard()
        await until(citizen.set_ecard_password, "set")
        assert (await citizen.pay_with_ecard())["outcome"] == "authorized"
        bind = f"/v1/ecards/{citizen.person_id}/channels"
        assert (await api.post(bind, "dev-online-hall", None, citizen.person_id)).status_code == 201

        async def claim_elsewhere() -> httpx.Response:
            body = {"person_id": citizen.person_id, "region": elsewhere}
            return await api.post("/v1/ecards", "dev-citizen-app", body, citizen.person_id)

        stays = await claim_elsewhere()
        assert (stays.status_code, stays.json()["code"]) == (409, "E_CARD_ALREADY_CLAIMED")
        await citizen.card("cancellation", {"reason": "MOVED"})
        await until(citizen.pay_with_ecard, "CARD_CANCELLED")
        moved = await claim_elsewhere()
        assert moved.status_code == 201, moved.text
        assert moved.json()["events"] == ["ECardClaimed", "ChannelBound"]
        await until(citizen.pay_with_ecard, "authorized")
        # Channels bound before the move stay behind; the one that claimed is bound.
        await until(lambda: citizen.show_code("dev-online-hall"), "CHANNEL_NOT_BOUND")
        assert (await citizen.show_code())["outcome"] == "shown"
        history = await client.get(
            f"{api.card}/v1/persons/{citizen.person_id}/events",
            headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
        )
        types = [e["event_type"] for e in history.json()]
        assert types.count("ECardMoved") == 1
        assert types.index("ECardMoved") < len(types) - types[::-1].index("ECardClaimed") - 1
