"""The card's life through the real APIs: failed production, loss and replacement, the e-card
following its card, channels, two clerks at once."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx

from deploy.demo.citizens import Citizen, face_check_for, fake_citizen
from deploy.stack import ServiceProcess
from tests.e2e.harness import SELF_SERVICE_KEYS, as_citizen, register, sign_in


class Api:
    """A thin client over the card and identity APIs, as the channels call them."""

    def __init__(self, client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
        self.client = client
        self.card = services["card"].url
        self.identity = services["identity"].url
        #: (person id, channel credential) -> the citizen token of that person on that channel
        self.tokens: dict[tuple[str, str], str] = {}

    def headers(
        self, key: str, as_person: str | None = None, grant: str | None = None
    ) -> dict[str, str]:
        """A channel's headers; a self-service channel acts as the citizen ``as_person`` (for
        a family member they linked: with identity's ``grant``)."""
        headers = as_citizen(key, self.tokens.get((as_person, key)) if as_person else None)
        return {**headers, "X-Family-Grant": grant} if grant else headers

    async def grant(self, holder: str, member: str, key: str = "dev-citizen-app") -> str:
        """Identity's fresh grant for the holder (signed in on ``key``) to act for a member."""
        response = await self.client.post(
            f"{self.identity}/v1/persons/{holder}/family/{member}/grant",
            headers=self.headers(key, holder),
        )
        assert response.status_code == 201, response.text
        granted: str = response.json()["grant"]
        return granted

    async def post(
        self,
        path: str,
        key: str,
        body: dict[str, Any] | None = None,
        as_person: str | None = None,
        grant: str | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            f"{self.card}{path}", json=body or {}, headers=self.headers(key, as_person, grant)
        )

    async def verified_citizen(self, seed: int) -> tuple[Citizen, str]:
        """A registered citizen, signed in (face verified) on every self-service channel."""
        citizen = fake_citizen(random.Random(seed))
        person_id = await register(self.identity, citizen)
        await self.sign_in(citizen)
        return citizen, person_id

    async def sign_in(self, citizen: Citizen) -> str:
        """The citizen signs in on every self-service channel; their person id."""
        person_id = ""
        for key in SELF_SERVICE_KEYS:
            person_id, token = await sign_in(self.client, self.identity, citizen, key)
            self.tokens[(person_id, key)] = token
        return person_id

    async def apply(self, person_id: str, region: str, delivery: str = "mail") -> str:
        body = {
            "person_id": person_id,
            "region": region,
            "delivery": delivery,
            "photo_ref": "photo-e2e",
        }
        for _ in range(200):  # the card service learns of the verification from its event
            response = await self.post("/v1/applications", "dev-online-hall", body, person_id)
            if response.json().get("code") != "IDENTITY_NOT_VERIFIED":
                break
            await asyncio.sleep(0.05)
        assert response.status_code == 201, response.text
        card_id: str = response.json()["card_id"]
        return card_id

    async def produce(self, card_id: str) -> None:
        response = await self.post(
            f"/v1/cards/{card_id}/production",
            "dev-printing-agency",
            {"card_number": "S123456789", "chip_serial": "A1B2C3D4E5F60708"},
        )
        assert response.status_code == 201, response.text

    async def deliver(self, card_id: str) -> None:
        await self.produce(card_id)
        mailed = await self.post(
            f"/v1/cards/{card_id}/mailing",
            "dev-courier",
            {"courier": "EMS", "tracking_number": "EMS1234567890"},
        )
        assert mailed.status_code == 201, mailed.text
        delivered = await self.post(f"/v1/cards/{card_id}/delivery", "dev-courier")
        assert delivered.status_code == 201, delivered.text

    async def status(self, card_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"{self.card}/v1/cards/{card_id}",
            headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
        )
        body: dict[str, Any] = response.json()
        return body


async def test_a_failed_production_lets_the_citizen_apply_again(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(client, services)
        citizen, person_id = await api.verified_citizen(41)
        card_id = await api.apply(person_id, citizen.region)
        again = await api.post(
            "/v1/applications",
            "dev-online-hall",
            {"person_id": person_id, "region": citizen.region, "photo_ref": "photo-1"},
            person_id,
        )
        assert (again.status_code, again.json()["code"]) == (409, "CARD_ALREADY_HELD")
        failed = await api.post(
            f"/v1/cards/{card_id}/production-failure",
            "dev-printing-agency",
            {"reason": "PHOTO_UNUSABLE"},
        )
        assert failed.json()["events"] == ["CardProductionFailed"]
        assert (await api.status(card_id))["status"] == "production_failed"
        assert await api.apply(person_id, citizen.region) != card_id


async def test_a_lost_card_is_replaced_and_the_ecard_follows_without_a_new_claim(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(client, services)
        citizen, person_id = await api.verified_citizen(42)
        card_id = await api.apply(person_id, citizen.region)
        await api.deliver(card_id)
        claim = await api.post(
            "/v1/ecards",
            "dev-citizen-app",
            {"person_id": person_id, "region": citizen.region},
            person_id,
        )
        assert claim.json()["events"] == ["ECardClaimed", "ChannelBound"], claim.text
        temporary = await api.post(
            f"/v1/cards/{card_id}/loss", "dev-citizen-app", {"kind": "temporary"}, person_id
        )
        assert temporary.json()["events"] == ["CardReportedLost", "ECardSuspended"]
        too_soon = await api.post(
            f"/v1/cards/{card_id}/replacement", "dev-window", {"reason": "loss"}
        )
        assert too_soon.json()["code"] == "RESOLVE_TEMPORARY_LOSS_FIRST"
        formal = await api.post(f"/v1/cards/{card_id}/loss", "dev-window", {"kind": "formal"})
        assert formal.json()["events"] == ["CardReportedLost"]
        replaced = await api.post(
            f"/v1/cards/{card_id}/replacement", "dev-window", {"reason": "loss"}
        )
        assert replaced.json()["events"] == ["CardReplaced", "CardApplied"], replaced.text
        new_card = replaced.json()["card_id"]
        await api.produce(new_card)
        await api.post(
            f"/v1/cards/{new_card}/mailing",
            "dev-courier",
            {"courier": "EMS", "tracking_number": "EMS99887766"},
        )
        delivered = await api.post(f"/v1/cards/{new_card}/delivery", "dev-courier")
        assert delivered.json()["events"] == ["CardDelivered", "ECardResumed"]
        old = await api.status(card_id)
        assert (old["status"], old["lost"]) == ("replaced", "formal")
        assert [e.split("@")[0] for e in old["explained_by"]][-1] == "CardReplaced"


async def test_channels_are_unlinked_one_at_a_time(services: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(client, services)
        citizen, person_id = await api.verified_citizen(43)
        card_id = await api.apply(person_id, citizen.region)
        await api.deliver(card_id)
        await api.post(
            "/v1/ecards",
            "dev-citizen-app",
            {"person_id": person_id, "region": citizen.region},
            person_id,
        )
        bound = await api.post(
            f"/v1/ecards/{person_id}/channels", "dev-online-hall", None, person_id
        )
        assert bound.json()["events"] == ["ChannelBound"]
        unlink = f"/v1/ecards/{person_id}/channels/dev-online-hall/unlink"
        unlinked = await api.post(unlink, "dev-citizen-app", None, person_id)
        assert unlinked.json()["events"] == ["ChannelUnlinked"]
        again = await api.post(unlink, "dev-citizen-app", None, person_id)
        assert (again.status_code, again.json()["code"]) == (404, "CHANNEL_NOT_BOUND")
        still = await api.post(
            f"/v1/ecards/{person_id}/channels/dev-citizen-app/unlink",
            "dev-citizen-app",
            None,
            person_id,
        )
        assert still.status_code == 200, "the other channel was still bound"


async def test_two_clerks_on_one_card_one_wins_the_other_is_told(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(client, services)
        citizen, person_id = await api.verified_citizen(44)
        card_id = await api.apply(person_id, citizen.region, delivery="pickup")
        await api.produce(card_id)
        await api.post(
            f"/v1/cards/{card_id}/branch", "dev-printing-agency", {"branch": "Jinshui branch"}
        )
        answers = await asyncio.gather(
            *(api.post(f"/v1/cards/{card_id}/collection", "dev-window") for _ in range(2))
        )
        final = await api.status(card_id)
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409], [a.json() for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.json()["code"] in ("CARD_STATUS_CONFLICT", "CONCURRENT_UPDATE")
    assert final["status"] == "collected"


async def test_a_holder_claims_for_a_member_they_linked_never_the_other_way_round(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(client, services)
        holder, holder_id = await api.verified_citizen(45)
        member, member_id = await api.verified_citizen(46)
        card_id = await api.apply(member_id, member.region)
        await api.deliver(card_id)
        for_member = {"person_id": member_id, "region": member.region}
        for_holder = {"person_id": holder_id, "region": holder.region}
        refused = await api.post("/v1/ecards", "dev-citizen-app", for_member, holder_id)
        assert (refused.status_code, refused.json()["code"]) == (403, "PERSON_FORBIDDEN")
        linked = await client.post(
            f"{api.identity}/v1/persons/{holder_id}/family",
            headers=api.headers("dev-citizen-app", holder_id),
            json={
                "name": member.name,
                "id_number": member.id_number,
                "relation": "child",
                "face_check": face_check_for(member).model_dump(mode="json"),
                "member_token": api.tokens[(member_id, "dev-citizen-app")],
            },
        )
        assert linked.status_code == 201, linked.text
        grant = await api.grant(holder_id, member_id)
        for _ in range(200):  # the card service learns of the link from identity's event
            claimed = await api.post("/v1/ecards", "dev-citizen-app", for_member, holder_id, grant)
            if claimed.status_code != 403:
                break
            await asyncio.sleep(0.05)
        assert claimed.status_code == 201, claimed.text
        # Without identity's fresh grant the holder does not act for the member.
        ungranted = await api.client.get(
            f"{api.card}/v1/cards/{card_id}", headers=api.headers("dev-citizen-app", holder_id)
        )
        assert (ungranted.status_code, ungranted.json()["code"]) == (403, "FAMILY_GRANT_REQUIRED")
        assert claimed.json()["events"][0] == "ECardClaimed"
        # The member's history names who acted for them (the event's version 2).
        history = await client.get(
            f"{api.card}/v1/persons/{member_id}/events",
            headers=api.headers("dev-citizen-app", member_id),
        )
        [claim] = [e for e in history.json() if e["event_type"] == "ECardClaimed"]
        assert claim["payload"]["acting_person_id"] == holder_id
        assert claim["payload"]["on_behalf"] is True
        own = [e for e in history.json() if e["event_type"] == "CardApplied"]
        assert all("acting_person_id" not in e["payload"] for e in own), "done by themselves"
        # The member never acts for the holder: the link runs one way.
        backwards = await api.post("/v1/ecards", "dev-citizen-app", for_holder, member_id)
        assert (backwards.status_code, backwards.json()["code"]) == (403, "PERSON_FORBIDDEN")
        # The member unlinks: identity grants nothing more at once, and the last grant stops
        # working as soon as the card service hears of it (within its minute at the latest).
        family = f"{api.identity}/v1/persons/{holder_id}/family"
        unlinked = await api.client.post(
            f"{family}/{member_id}/unlink", headers=api.headers("dev-citizen-app", member_id)
        )
        assert unlinked.status_code == 200, unlinked.text
        no_grant = await api.client.post(
            f"{family}/{member_id}/grant", headers=api.headers("dev-citizen-app", holder_id)
        )
        assert (no_grant.status_code, no_grant.json()["code"]) == (404, "FAMILY_LINK_NOT_FOUND")
        card_url = f"{api.card}/v1/cards/{card_id}"
        for _ in range(200):
            stale = await api.client.get(
                card_url, headers=api.headers("dev-citizen-app", holder_id, grant)
            )
            if stale.status_code == 403:
                break
            await asyncio.sleep(0.05)
    assert (stale.status_code, stale.json()["code"]) == (403, "PERSON_FORBIDDEN")


async def test_the_printing_agency_takes_applications_in_batches(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(client, services)
        cards = []
        for seed in (47, 48):
            citizen, person_id = await api.verified_citizen(seed)
            cards.append(await api.apply(person_id, citizen.region))
        batch = await api.post("/v1/production/batches", "dev-printing-agency", {"size": 1000})
        assert batch.status_code == 201, batch.text
        assert set(cards) <= set(batch.json()["card_ids"])
        assert (await api.status(cards[0]))["status"] == "in_production"
        again = await api.post("/v1/production/batches", "dev-printing-agency", {"size": 1000})
        assert not set(cards) & set(again.json()["card_ids"]), "a card is in one batch only"
        await api.produce(cards[0])
        assert (await api.status(cards[0]))["status"] == "produced"


async def test_clerks_at_once_and_their_retries_take_effect_once_each(
    services: dict[str, ServiceProcess],
) -> None:
    """Card commands share transactions under load (group commit): two printing agencies
    record the same cards at once, each retrying with its own Idempotency-Key, and a card
    nobody applied for rides in the same batches. Each card is produced once, every retry
    gets its first answer, and the refusals fail alone."""
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)
        cards = []
        for seed in range(6):
            citizen, person_id = await api.verified_citizen(7300 + seed)
            cards.append(await api.apply(person_id, citizen.region))
        body = {"card_number": "S123456789", "chip_serial": "A1B2C3D4E5F60708"}

        async def clerk(card_id: str, agency: int) -> list[httpx.Response]:
            headers = {
                **api.headers("dev-printing-agency"),
                "Idempotency-Key": f"{card_id}-{agency}",
            }
            url = f"{api.card}/v1/cards/{card_id}/production"
            return list(
                await asyncio.gather(
                    *(client.post(url, json=body, headers=headers) for _ in range(3))
                )
            )

        answers = await asyncio.gather(
            *(clerk(card_id, agency) for card_id in [*cards, "no-such-card"] for agency in (1, 2))
        )
        by_card = [answers[i] + answers[i + 1] for i in range(0, len(answers), 2)]
        for card_id, responses in zip(cards, by_card, strict=False):
            fresh = [
                r
                for r in responses
                if r.status_code == 201 and "idempotent-replayed" not in r.headers
            ]
            assert len(fresh) == 1, [(r.status_code, r.text) for r in responses]
            replays = [r for r in responses if "idempotent-replayed" in r.headers]
            assert all(r.json() == fresh[0].json() or r.status_code != 201 for r in replays)
            others = {
                (r.status_code, r.json().get("code")) for r in responses if r.status_code != 201
            }
            assert others <= {(409, "IDEMPOTENCY_KEY_IN_USE"), (409, "CARD_STATUS_CONFLICT")}, (
                card_id,
                others,
            )
            state = await api.status(card_id)
            assert state["status"] == "produced"
            produced = [e for e in state["explained_by"] if e.startswith("CardProduced@")]
            assert len(produced) == 1, state["explained_by"]
        unknown = {(r.status_code, r.json()["code"]) for r in by_card[-1]}
        # Not kept (it changed nothing): a retry meanwhile is told to wait, then decided afresh.
        assert (404, "CARD_NOT_FOUND") in unknown
        assert unknown <= {(404, "CARD_NOT_FOUND"), (409, "IDEMPOTENCY_KEY_IN_USE")}
