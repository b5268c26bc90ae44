"""Rules that need a person's ID number, decided by services that never see it: a password
taken from the ID number is refused by the activation service, and whether a child needs a
photo is decided by the card service from the birth date, both from identity's
``PersonFactsIssued`` (keyed hashes and a sealed date), not from what the caller says."""

from __future__ import annotations

import random
from datetime import date, timedelta

import httpx

from deploy.demo.citizens import Citizen, face_check_for, fake_citizen, make_id_number
from deploy.stack import Infrastructure, ServiceProcess
from services.activation.errors import PasswordWeakError
from services.activation.password.domain import FROM_ID_NUMBER, check_policy
from shared.topics import IDENTITY_EVENTS
from tests.e2e.harness import envelope_of, read_records, register
from tests.e2e.paying import PASSWORD, until
from tests.e2e.test_activation import activation
from tests.e2e.test_cards import Api


def runs_of(id_number: str) -> list[str]:
    """The 6-digit runs of an ID number that the plain policy would allow as a password."""
    allowed = []
    for i in range(len(id_number) - 5):
        run = id_number[i : i + 6]
        try:
            check_policy(run)
        except PasswordWeakError:
            continue
        allowed.append(run)
    return allowed


async def test_no_password_is_taken_from_the_id_number(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    url = services["activation"].url
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)
        citizen, person_id = await api.verified_citizen(81)
        runs = runs_of(citizen.id_number)
        assert len(runs) >= 8
        card_id = await api.apply(person_id, citizen.region)
        await api.deliver(card_id)
        body = {"card_id": card_id, "person_id": person_id, "id_checked": True}
        activated = await activation(client, url, "/v1/activations", "dev-window", body)
        assert activated.status_code == 201, activated.text

        async def change(new: str) -> httpx.Response:
            return await client.post(
                f"{url}/v1/cards/{card_id}/password",
                headers={"X-Api-Key": "dev-hospital"},
                json={"current_password": "123456", "new_password": new},
            )

        # The caller never says the ID number: the platform knows which runs are forbidden.
        for run in runs:
            refused = await change(run)
            assert (refused.status_code, refused.json()["code"]) == (422, "PASSWORD_WEAK")
            assert refused.json()["message"] == FROM_ID_NUMBER
            assert citizen.id_number not in refused.text
            assert run not in refused.text
        assert (await change(PASSWORD)).status_code == 201

        # The e-card's password: set at claim, and reset online, by the same rule.
        claim = {"person_id": person_id, "region": citizen.region}
        claimed = await api.post("/v1/ecards", "dev-citizen-app", claim, person_id)
        assert claimed.status_code == 201, claimed.text
        ecard = f"{url}/v1/ecards/{person_id}"
        app = api.headers("dev-citizen-app", person_id)

        async def set_ecard(password: str) -> dict[str, str]:
            response = await client.post(
                f"{ecard}/activation", headers=app, json={"password": password}
            )
            answer: dict[str, str] = response.json()
            return {"outcome": "set"} if response.status_code == 201 else answer

        refused_ecard = await set_ecard(runs[-1])
        assert refused_ecard["code"] == "PASSWORD_WEAK", refused_ecard
        await until(lambda: set_ecard("258036"), "set")
        verified = await client.post(
            f"{services['identity'].url}/v1/verifications",
            headers={"X-Api-Key": "dev-citizen-app"},
            json={
                "name": citizen.name,
                "id_number": citizen.id_number,
                "face_check": face_check_for(citizen).model_dump(mode="json"),
            },
        )
        assert verified.status_code == 201, verified.text
        reset = await client.post(
            f"{ecard}/password/recovery",
            headers=app,
            json={
                "person_id": person_id,
                "sms_code": {"code_id": "not-asked-for", "code": "000000"},
                "new_password": runs[0],
            },
        )
        assert reset.json()["code"] == "PASSWORD_WEAK", reset.text

    # What identity published: one keyed hash per run, no run and no birth date in clear.
    records = await read_records(
        infra.bootstrap_servers,
        [IDENTITY_EVENTS],
        keep=lambda r: (
            r.key == person_id.encode() and envelope_of(r).event_type == "PersonFactsIssued"
        ),
        done=lambda kept: len(kept) >= 1,
    )
    assert len(records) == 1, "facts are issued once per key, not at every verification"
    facts = envelope_of(records[0]).payload
    assert len(facts["password_windows"]) == sum(
        citizen.id_number[i : i + 6].isdigit() for i in range(13)
    )
    published = records[0].value.decode()
    assert not any(citizen.id_number[i : i + 6] in published for i in range(13))


async def child(
    client: httpx.AsyncClient, url: str, guardian: Citizen, born: date, seed: int
) -> str:
    """Register a child with their guardian and verify them through the guardian."""
    number = make_id_number(random.Random(seed), "110105", born)
    registered = await client.post(
        f"{url}/v1/persons",
        headers={"X-Api-Key": "dev-window"},
        json={
            "name": "王小明",
            "id_number": number,
            "region": "110105",
            "guardian_id_number": guardian.id_number,
        },
    )
    assert registered.status_code == 201, registered.text
    verified = await client.post(
        f"{url}/v1/verifications",
        headers={"X-Api-Key": "dev-online-hall"},
        json={
            "name": "王小明",
            "id_number": number,
            "guardian": {
                "name": guardian.name,
                "id_number": guardian.id_number,
                "face_check": face_check_for(guardian).model_dump(mode="json"),
            },
        },
    )
    assert verified.status_code == 201, verified.text
    person_id: str = verified.json()["person_id"]
    return person_id


async def test_the_photo_rule_follows_the_birth_date_not_the_caller(
    services: dict[str, ServiceProcess],
) -> None:
    url = services["identity"].url
    today = date.today()
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)

        async def apply(person_id: str, **extra: object) -> dict[str, str]:
            # At a window, the clerk checked the ID card (the guardian's, for a child).
            body = {"person_id": person_id, "region": "110105", "id_checked": True, **extra}
            response = await api.post("/v1/applications", "dev-window", body)
            answer: dict[str, str] = response.json()
            return {"outcome": "applied"} if response.status_code == 201 else answer

        # An adult who says "under 7" still needs a photo.
        _, adult = await api.verified_citizen(82)
        assert (await until(lambda: apply(adult, under_7=True), "PHOTO_REQUIRED"))["message"]
        assert (await apply(adult, under_7=True, photo_ref="photo-82"))["outcome"] == "applied"

        guardian = fake_citizen(random.Random(83))
        await register(url, guardian)
        # A child of 5 needs none, whatever the channel says.
        five = await child(client, url, guardian, today.replace(year=today.year - 5), 84)
        await until(lambda: apply(five), "applied")
        # A child who turns 7 today needs one; the day before, none.
        seven = await child(client, url, guardian, today.replace(year=today.year - 7), 85)
        await until(lambda: apply(seven, under_7=True), "PHOTO_REQUIRED")
        almost = today.replace(year=today.year - 7) + timedelta(days=1)
        six = await child(client, url, guardian, almost, 86)
        await until(lambda: apply(six), "applied")
