"""End to end on the real broker and database: citizens go from no card to an active card."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter, defaultdict

import httpx
import pytest

from deploy.demo.citizens import face_check_for, fake_citizen
from deploy.demo.journeys import Journey, run_demo, run_journey
from deploy.demo.showcase import run_showcase
from deploy.demo.sink import SinkClient
from deploy.stack import Infrastructure, ServiceProcess
from shared.envelope import Envelope
from shared.topics import EVENTS_TOPIC
from tests.e2e.harness import Record, as_citizen, endpoints, envelope_of, read_records, register

JOURNEY = [
    ("identity", "PersonRegistered"),
    ("identity", "PersonFactsIssued"),
    ("identity", "IdentityVerified"),
    ("card", "CardApplied"),
    ("card", "CardProduced"),
    ("card", "CardMailed"),
    ("card", "CardDelivered"),
    ("activation", "CardActivated"),
    ("activation", "MedicalAccountEnabled"),
]
#: The journey may try to activate before the activation service learned that the card was
#: delivered: that attempt is refused, and recorded, but it is not part of the journey proper.
RETRIED = "ActivationRefused"
#: Messages the journey earns: application received, card mailed, card activated...
NOTIFIED = 3
#: ...each in the app and by SMS (the journey chooses both).
CHANNELS = 2
#: The notification service's events per citizen: the choice, then each message scheduled
#: and sent on each channel.
NOTIFICATION_EVENTS = 1 + 2 * NOTIFIED * CHANNELS
TOLD = {"NotificationPreferencesChanged", "NotificationScheduled", "NotificationSent"}


def journey_records(records: list[Record]) -> list[Record]:
    """Records of the journey proper."""
    return [r for r in records if dict(r.headers).get("event_type") != RETRIED.encode()]


ENVELOPE_FIELDS = set(Envelope.model_fields)


@pytest.fixture(scope="module")
async def journeys(services: dict[str, ServiceProcess]) -> list[Journey]:
    return await run_demo(endpoints(services), 6, concurrency=3, seed=20261122)


async def test_every_citizen_completes_the_journey(journeys: list[Journey]) -> None:
    assert [j.failure for j in journeys] == [None] * len(journeys)
    for journey in journeys:
        types = [e["event_type"] for e in journey.timeline]
        assert types.count("NotificationSent") == NOTIFIED * CHANNELS
        assert [t for t in types if t not in (*TOLD, RETRIED)] == [t for _, t in JOURNEY]


async def test_every_event_once_in_order_with_full_envelope(
    infra: Infrastructure, journeys: list[Journey]
) -> None:
    people = {j.person_id for j in journeys}
    expected = len(people) * (len(JOURNEY) + NOTIFICATION_EVENTS)
    records = await read_records(
        infra.bootstrap_servers,
        list(EVENTS_TOPIC.values()),
        keep=lambda r: (r.key or b"").decode() in people,
        done=lambda kept: len(journey_records(kept)) >= expected,
    )
    records = journey_records(records)
    assert len(records) == expected
    by_person: dict[str, list[Envelope]] = defaultdict(list)
    for record in records:
        raw = json.loads(record.value or b"")
        assert set(raw) == ENVELOPE_FIELDS, "the envelope is a public contract"
        envelope = envelope_of(record)
        assert record.key == envelope.person_id.encode()
        headers = dict(record.headers)
        assert headers["event_type"] == envelope.event_type.encode()
        assert headers["schema_version"] == str(envelope.schema_version).encode()
        assert record.topic == EVENTS_TOPIC[envelope.producer]
        by_person[envelope.person_id].append(envelope)
    for person, events in by_person.items():
        assert len({e.event_id for e in events}) == len(events), "no event twice"
        for producer, _ in JOURNEY:
            own = [e.event_type for e in events if e.producer == producer]
            assert own == [t for p, t in JOURNEY if p == producer], person
        notified = Counter(
            (e.payload["about_event_type"], e.payload["channel"])
            for e in events
            if e.event_type == "NotificationSent"
        )
        assert notified == {
            (about, channel): 1
            for about in ("CardApplied", "CardMailed", "CardActivated")
            for channel in ("app_push", "sms")
        }


async def test_no_clear_personal_data_on_any_topic(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    citizen = fake_citizen(random.Random(7))
    async with httpx.AsyncClient(timeout=30) as client:
        journey = await run_journey(client, endpoints(services), citizen)
    assert journey.completed, journey.failure
    records = await read_records(
        infra.bootstrap_servers,
        list(EVENTS_TOPIC.values()),
        keep=lambda r: (r.key or b"").decode() == journey.person_id,
        done=lambda kept: len(journey_records(kept)) >= len(JOURNEY) + NOTIFICATION_EVENTS,
    )
    assert len(journey_records(records)) == len(JOURNEY) + NOTIFICATION_EVENTS
    for record in records:
        text = (record.value or b"").decode()
        assert citizen.id_number not in text
        assert citizen.id_number[6:14] not in text, "not even the birth date"
        assert citizen.name not in text
        assert citizen.phone not in text
    logs = "".join(p.log_path.read_text() for p in services.values())
    assert citizen.id_number not in logs
    assert citizen.name not in logs
    assert citizen.phone not in logs
    # The SMS gateway (the local sink) got one text per message, to the phone the citizen
    # gave, addressed by the tail of the ID number and nothing more of it.
    texts = [m["text"] for m in SinkClient(services["sink"].url).messages("sms", citizen.phone)]
    assert len(texts) == NOTIFIED
    for text in texts:
        assert f"尾号{citizen.id_number[-4:]}" in text
        assert citizen.id_number[:14] not in text


async def _post(
    url: str, key: str | None, body: object, token: str | None = None
) -> httpx.Response:
    headers = as_citizen(key, token) if key else {}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, json=body, headers=headers)


async def test_bad_id_numbers_are_refused_with_a_reason(
    services: dict[str, ServiceProcess],
) -> None:
    citizen = fake_citizen(random.Random(11))
    url = f"{services['identity'].url}/v1/verifications"
    broken = citizen.id_number[:17] + ("0" if citizen.id_number[17] != "0" else "1")
    response = await _post(url, "dev-online-hall", {"name": citizen.name, "id_number": broken})
    assert response.status_code == 422
    assert response.json()["code"] == "ID_NUMBER_CHECKSUM"
    assert broken not in response.text


async def test_callers_are_authenticated_and_authorised(
    services: dict[str, ServiceProcess],
) -> None:
    citizen = fake_citizen(random.Random(12))
    body = {"name": citizen.name, "id_number": citizen.id_number}
    url = f"{services['identity'].url}/v1/verifications"
    assert (await _post(url, None, body)).json()["code"] == "AUTH_REQUIRED"
    assert (await _post(url, "stolen", body)).json()["code"] == "AUTH_INVALID"
    forbidden = await _post(url, "dev-printing-agency", body)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "ROLE_FORBIDDEN")


async def test_malformed_request_never_echoes_personal_data(
    services: dict[str, ServiceProcess],
) -> None:
    citizen = fake_citizen(random.Random(13))
    url = f"{services['identity'].url}/v1/verifications"
    response = await _post(
        url, "dev-online-hall", {"name": citizen.name, "id_number": citizen.id_number, "x": 1}
    )
    assert (response.status_code, response.json()["code"]) == (422, "INVALID_REQUEST")
    assert citizen.id_number not in response.text
    assert citizen.name not in response.text


async def test_replayed_or_forged_face_checks_are_refused(
    services: dict[str, ServiceProcess],
) -> None:
    citizen = fake_citizen(random.Random(14))
    await register(services["identity"].url, citizen)
    url = f"{services['identity'].url}/v1/verifications"
    face = face_check_for(citizen).model_dump(mode="json")
    body = {"name": citizen.name, "id_number": citizen.id_number, "face_check": face}
    assert (await _post(url, "dev-online-hall", body)).status_code == 201
    replay = await _post(url, "dev-online-hall", body)
    assert replay.json()["code"] == "FACE_RESULT_REPLAYED"
    forged = {**face_check_for(citizen).model_dump(mode="json"), "score": 99.9}
    refused = await _post(url, "dev-online-hall", {**body, "face_check": forged})
    assert refused.json()["code"] == "FACE_SIGNATURE_INVALID"


async def test_activation_is_refused_for_a_card_never_mailed(
    services: dict[str, ServiceProcess],
) -> None:
    urls = endpoints(services)
    citizen = fake_citizen(random.Random(15))
    await register(urls.identity, citizen)
    verified = await _post(
        f"{urls.identity}/v1/verifications",
        "dev-online-hall",
        {
            "name": citizen.name,
            "id_number": citizen.id_number,
            "face_check": face_check_for(citizen).model_dump(mode="json"),
        },
    )
    person_id = verified.json()["person_id"]
    token = verified.json()["citizen_token"]
    application = {"person_id": person_id, "region": citizen.region, "photo_ref": "photo-1"}
    applied = None
    for _ in range(100):
        applied = await _post(f"{urls.card}/v1/applications", "dev-online-hall", application, token)
        if applied.status_code == 201:
            break
        await asyncio.sleep(0.1)
    assert applied is not None
    assert applied.status_code == 201, applied.text
    card_id = applied.json()["card_id"]
    activation = {"card_id": card_id, "person_id": person_id}
    codes = set()
    for _ in range(100):
        response = await _post(
            f"{urls.activation}/v1/activations", "dev-online-hall", activation, token
        )
        codes.add(response.json()["code"])
        if response.json()["code"] == "CARD_NOT_DELIVERED":
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 409
    assert response.json()["code"] == "CARD_NOT_DELIVERED"
    assert codes <= {"CARD_NOT_FOUND", "CARD_NOT_DELIVERED"}
    second = await _post(f"{urls.card}/v1/applications", "dev-online-hall", application, token)
    assert (second.status_code, second.json()["code"]) == (409, "CARD_ALREADY_HELD")


async def test_an_unverified_person_cannot_apply(services: dict[str, ServiceProcess]) -> None:
    response = await _post(
        f"{services['card'].url}/v1/applications",
        "dev-window",
        {
            "person_id": "nobody-we-know",
            "region": "410105",
            "photo_ref": "photo-1",
            "id_checked": True,
        },
    )
    assert (response.status_code, response.json()["code"]) == (409, "IDENTITY_NOT_VERIFIED")


async def test_the_demo_showcase_goes_by_the_rules(services: dict[str, ServiceProcess]) -> None:
    showcase = await run_showcase(endpoints(services), seed=20261204)
    expected = {"qr_payment", "refused_after_loss", "password_from_id_number", "stranger_refused"}
    assert expected <= set(showcase.outcomes)
    assert [name for name, ok in showcase.outcomes.items() if not ok] == [], showcase.lines
