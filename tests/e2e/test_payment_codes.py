"""The e-card's dynamic payment code (展码) through the real services: shown by a bound
channel, checked offline against the published keys, redeemed once; every genuine refusal
recorded."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import jwt

from deploy.stack import ServiceProcess
from services.activation.payment.codes import AUDIENCE, DEV_KEY_ID, DEV_SEED, CodeKeys
from shared.envelope import utc_now
from tests.e2e.paying import PASSWORD, Paying, until
from tests.e2e.test_cards import Api

MINUTE = timedelta(minutes=1)


async def test_the_payment_code_pays_once_within_its_minute(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        citizen = await Paying(client, services).ready(77)
        await citizen.claim_ecard()

        show = citizen.show_code
        assert (await show())["code"] in ("E_CARD_NOT_CLAIMED", "E_CARD_NOT_ACTIVE")
        await until(citizen.set_ecard_password, "set")
        shown = await until(show, "shown")
        assert "<svg" in shown["qr_svg"]

        # The pharmacy checks the code offline with the published keys...
        jwks = await client.get(
            f"{citizen.url}/v1/payment-codes/keys", headers={"X-Api-Key": "dev-pharmacy"}
        )
        [published] = jwks.json()["keys"]
        claims = jwt.decode(
            shown["payload"],
            jwt.PyJWK(published).key,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
        )
        assert (claims["sub"], claims["card"]) == (citizen.person_id, citizen.card_id)

        # ...then redeems it online with the e-card password: once.
        async def redeem(code: str, password: str = PASSWORD) -> httpx.Response:
            return await client.post(
                f"{citizen.url}/v1/payment-codes/redeem",
                headers={"X-Api-Key": "dev-pharmacy"},
                json={"code": code, "password": password, "amount_fen": 4_200},
            )

        wrong = await redeem(shown["payload"], "000000")
        assert wrong.json()["code"] == "PASSWORD_WRONG", "a wrong password does not use the code"
        assert (await redeem(shown["payload"])).json()["outcome"] == "authorized"
        again = await redeem(shown["payload"])
        assert (again.status_code, again.json()["code"]) == (409, "PAYMENT_CODE_USED")
        # The same code twice at the same moment: one payment.
        fresh = (await show())["payload"]
        both = await asyncio.gather(redeem(fresh), redeem(fresh))
        assert sorted(r.status_code for r in both) == [200, 409], [r.text for r in both]

        # Only a hospital or pharmacy redeems; a careless body is told what is wrong.
        url = f"{citizen.url}/v1/payment-codes/redeem"
        as_app = await client.post(
            url, headers={"X-Api-Key": "dev-citizen-app"}, json={"code": fresh, "password": "1"}
        )
        assert (as_app.status_code, as_app.json()["code"]) == (403, "ROLE_FORBIDDEN")
        for bad in ({"code": fresh}, {"code": 7, "password": PASSWORD}, {"code": "x" * 3000}):
            answer = await client.post(url, headers={"X-Api-Key": "dev-pharmacy"}, json=bad)
            assert answer.status_code == 422, answer.text
        nul = await redeem("\u0000" + fresh)
        assert (nul.status_code, nul.json()["code"]) == (422, "PAYMENT_CODE_INVALID")

        # Expired, forged and foreign codes are refused, each with its code.
        dev = CodeKeys.from_seeds({DEV_KEY_ID: DEV_SEED})
        expired, _ = dev.issue(
            citizen.person_id, citizen.card_id, "citizen_app", utc_now() - MINUTE * 2, MINUTE
        )
        assert (await redeem(expired)).json()["code"] == "PAYMENT_CODE_EXPIRED"
        stranger = CodeKeys.from_seeds({DEV_KEY_ID: bytes(32)})
        forged, _ = stranger.issue(
            citizen.person_id, citizen.card_id, "citizen_app", utc_now(), MINUTE
        )
        refused = await redeem(forged)
        assert (refused.status_code, refused.json()["code"]) == (422, "PAYMENT_CODE_INVALID")

        # A code is shown only by a channel the holder bound the e-card to, and pays only
        # while that channel stays bound.
        assert (await citizen.show_code("dev-online-hall"))["code"] == "CHANNEL_NOT_BOUND"
        bind = f"/v1/ecards/{citizen.person_id}/channels"
        bound = await citizen.api.post(bind, "dev-online-hall", {}, citizen.person_id)
        assert bound.status_code == 201, bound.text
        hall_code = (await until(lambda: citizen.show_code("dev-online-hall"), "shown"))["payload"]
        unlink = f"/v1/ecards/{citizen.person_id}/channels/dev-online-hall/unlink"
        unlinked = await citizen.api.post(unlink, "dev-citizen-app", {}, citizen.person_id)
        assert unlinked.status_code == 200, unlinked.text
        await until(lambda: citizen.show_code("dev-online-hall"), "CHANNEL_NOT_BOUND")
        assert (await redeem(hall_code)).json()["code"] == "CHANNEL_NOT_BOUND"

        # A code shown before a loss report does not pay after it; none is shown after it.
        before_loss = (await show())["payload"]
        await citizen.card("loss", {"kind": "temporary"})
        await until(show, "CARD_REPORTED_LOST")
        lost = await redeem(before_loss)
        assert lost.json()["code"] == "CARD_REPORTED_LOST"

        paid = [e for e in await citizen.history() if e["event_type"] == "SettlementAuthorized"]
        assert sum(e["payload"]["payment_code_id"] is not None for e in paid) == 2
        assert {e["payload"]["card_kind"] for e in paid if e["payload"]["payment_code_id"]} == {
            "electronic"
        }
        # Refusals of genuine codes are recorded too (a forged one names nobody).
        refused_codes = {
            e["payload"]["reason"]
            for e in await citizen.history()
            if e["event_type"] == "SettlementRefused" and e["payload"]["payment_code_id"]
        }
        assert {"PAYMENT_CODE_USED", "PAYMENT_CODE_EXPIRED", "CHANNEL_NOT_BOUND"} <= refused_codes


async def test_payment_code_routes_refuse_strangers(services: dict[str, ServiceProcess]) -> None:
    url = services["activation"].url
    routes = [
        ("post", "/v1/ecards/someone/payment-codes", None),
        ("post", "/v1/payment-codes/redeem", {"code": "x", "password": PASSWORD}),
        ("get", "/v1/payment-codes/keys", None),
    ]
    async with httpx.AsyncClient(timeout=30) as client:
        for method, path, body in routes:
            for key, status, code in (
                (None, 401, "AUTH_REQUIRED"),
                ("stolen-key", 401, "AUTH_INVALID"),
                ("dev-courier", 403, "ROLE_FORBIDDEN"),
            ):
                headers = {"X-Api-Key": key} if key else {}
                answer = await client.request(method, f"{url}{path}", headers=headers, json=body)
                assert (answer.status_code, answer.json()["code"]) == (status, code), path
        # A hospital shows no code for a holder; a citizen app none for a person who has no
        # e-card; a pharmacy redeems only what the platform signed.
        as_hospital = await client.post(
            f"{url}/v1/ecards/someone/payment-codes", headers={"X-Api-Key": "dev-hospital"}
        )
        assert (as_hospital.status_code, as_hospital.json()["code"]) == (403, "ROLE_FORBIDDEN")
        unsigned = await client.post(
            f"{url}/v1/ecards/no-such-person/payment-codes",
            headers={"X-Api-Key": "dev-citizen-app"},
        )
        assert (unsigned.status_code, unsigned.json()["code"]) == (401, "TOKEN_REQUIRED")
        api = Api(client, services)
        _, someone = await api.verified_citizen(177)
        nobody = await client.post(
            f"{url}/v1/ecards/no-such-person/payment-codes",
            headers=api.headers("dev-citizen-app", someone),
        )
        assert (nobody.status_code, nobody.json()["code"]) == (403, "PERSON_FORBIDDEN")
        unclaimed = await client.post(
            f"{url}/v1/ecards/{someone}/payment-codes",
            headers=api.headers("dev-citizen-app", someone),
        )
        assert (unclaimed.status_code, unclaimed.json()["code"]) == (404, "E_CARD_NOT_CLAIMED")
        made_up = await client.post(
            f"{url}/v1/payment-codes/redeem",
            headers={"X-Api-Key": "dev-pharmacy"},
            json={"code": "eyJhbGciOiJub25lIn0.e30.", "password": PASSWORD},
        )
        assert (made_up.status_code, made_up.json()["code"]) == (422, "PAYMENT_CODE_INVALID")
