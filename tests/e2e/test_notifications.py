"""Notifications through the whole stack: a citizen's choices, delivery to the local sink,
and an SMS gateway that keeps failing until an operator replays the dead letter."""

from __future__ import annotations

import random
import secrets
from typing import Any

import httpx

from deploy.demo.citizens import Citizen, fake_citizen
from deploy.demo.sink import SinkClient
from deploy.notifications import retry_dead_letters
from deploy.stack import Infrastructure, ServiceProcess
from shared.topics import NOTIFICATION_EVENTS
from tests.e2e.harness import as_citizen, envelope_of, read_records, register, sign_in, wait_for
from tests.e2e.test_identity import verify


async def _choose(
    url: str, person_id: str, body: dict[str, object], key: str, token: str | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.put(
            f"{url}/v1/persons/{person_id}/preferences",
            json=body,
            headers=as_citizen(key, token),
        )


async def _fail_verification(services: dict[str, ServiceProcess], citizen: Citizen) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await verify(client, services["identity"].url, citizen, name="张冒名")
    assert response.status_code == 422  # IdentityVerificationFailed: a required message


def _sms_to(sink: ServiceProcess, phone: str) -> list[dict[str, Any]]:
    return SinkClient(sink.url).messages("sms", to=phone)


async def test_choices_are_checked_and_shown_masked(services: dict[str, ServiceProcess]) -> None:
    url = services["notification"].url
    citizen = fake_citizen(random.Random(605))
    await register(services["identity"].url, citizen)
    async with httpx.AsyncClient(timeout=30) as client:
        person, token = await sign_in(client, services["identity"].url, citizen, "dev-citizen-app")
    app = "dev-citizen-app"
    bad_phone = await _choose(url, person, {"channels": ["sms"], "phone": "12345"}, app, token)
    assert bad_phone.status_code == 422
    no_phone = await _choose(url, person, {"channels": ["sms"]}, app, token)
    assert (no_phone.status_code, no_phone.json()["code"]) == (422, "CONTACT_MISSING")
    none = await _choose(url, person, {"channels": []}, app, token)
    assert none.status_code == 422
    bank = await _choose(url, person, {"channels": ["app_push"]}, "dev-bank")
    assert bank.status_code == 403
    # Nobody else's: the app without the citizen's token, or for another person.
    unsigned = await _choose(url, person, {"channels": ["app_push"]}, app)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "TOKEN_REQUIRED")
    stranger = await _choose(url, f"p-{secrets.token_hex(4)}", {"channels": ["sms"]}, app, token)
    assert (stranger.status_code, stranger.json()["code"]) == (403, "PERSON_FORBIDDEN")

    body = {
        "channels": ["sms", "email"],
        "phone": "13912345678",
        "email": "li@example.com",
        "language": "en",
        "optional_messages": False,
    }
    chosen = await _choose(url, person, body, app, token)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json() == {
        "channels": ["sms", "email"],
        "language": "en",
        "optional_messages": False,
        "masked_phone": "139****5678",
        "masked_email": "l***@example.com",
    }
    assert "13912345678" not in chosen.text
    # A later change keeps the contacts given before.
    again = await _choose(url, person, {"channels": ["sms"]}, app, token)
    assert again.json()["masked_phone"] == "139****5678"


async def test_a_failing_gateway_ends_in_failed_and_the_dead_letter_replay_delivers_once(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    sink, notification = services["sink"], services["notification"]
    citizen = fake_citizen(random.Random(606))
    person_id = await register(services["identity"].url, citizen)
    chosen = await _choose(
        notification.url,
        person_id,
        {"channels": ["sms"], "phone": citizen.phone},
        "dev-window",  # chosen at the counter
    )
    assert chosen.status_code == 200, chosen.text
    SinkClient(sink.url).fail_next("sms", 10_000)
    try:
        await _fail_verification(services, citizen)
        records = await read_records(
            infra.bootstrap_servers,
            [NOTIFICATION_EVENTS],
            keep=lambda r: r.key == person_id.encode(),
            done=lambda kept: any(envelope_of(r).event_type == "NotificationFailed" for r in kept),
        )
    finally:
        SinkClient(sink.url).fail_next("sms", 0)
    [failed] = [
        envelope_of(r) for r in records if envelope_of(r).event_type == "NotificationFailed"
    ]
    assert failed.payload["reason"].startswith("RETRIES_EXHAUSTED GATEWAY_HTTP_503")
    assert _sms_to(sink, citizen.phone) == []

    group = f"retry-{secrets.token_hex(4)}"
    first = await retry_dead_letters(
        infra.bootstrap_servers, notification.url, "dev-operator", group=group
    )
    nid = failed.payload["notification_id"]
    assert nid in first.retried
    assert await wait_for(lambda: len(_sms_to(sink, citizen.phone)) == 1)
    [sms] = _sms_to(sink, citizen.phone)
    assert f"尾号{citizen.id_number[-4:]}" in str(sms["text"])

    # Replaying again (same group: nothing left; another group: refused as not failed).
    again = await retry_dead_letters(
        infra.bootstrap_servers, notification.url, "dev-operator", group=group
    )
    assert nid not in again.retried
    other = await retry_dead_letters(
        infra.bootstrap_servers, notification.url, "dev-operator", group=f"{group}-b"
    )
    assert nid in other.not_failed
    async with httpx.AsyncClient(timeout=30) as client:
        log = await client.get(
            f"{notification.url}/v1/persons/{person_id}/messages",
            headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
        )
        detail = await client.get(
            f"{notification.url}/v1/notifications/{nid}",
            headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
        )
    [message] = log.json()
    assert (message["status"], message["template"]) == ("sent", "verification_failed")
    outcomes = [a["outcome"] for a in detail.json()["attempts_log"]]
    assert outcomes[-1] == "sent"
    assert outcomes.count("sent") == 1
    assert "transient_error" in outcomes
    assert len(_sms_to(sink, citizen.phone)) == 1
