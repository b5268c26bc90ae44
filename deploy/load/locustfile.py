"""Whole citizen journeys against a running deployment, with Locust.

Each simulated citizen registers, verifies (name, ID number and a signed face check), chooses
SMS, applies for a card, has it produced, mailed and delivered, activates it and waits until
the platform has told them; then the next citizen. Every call is a Locust request named by its
route; each whole journey is one more, ``JOURNEY whole journey``, so the report gives the
p50/p95/p99 of both.

    make locust                                   # the running local stack, 8 users
    SHEBAO_IDENTITY_URL=https://... SHEBAO_CARD_URL=... SHEBAO_ACTIVATION_URL=... \\
      SHEBAO_NOTIFICATION_URL=... SHEBAO_LOAD_KEYS='{"channel": "...", ...}' \\
      .venv/bin/locust -f deploy/load/locustfile.py --headless -u 50 -r 5 -t 5m \\
      --csv out/journeys --html out/journeys.html

Where the services are: ``SHEBAO_<SERVICE>_URL``, else the running local stack. The keys of
the channels it acts as (``channel``, ``operator``, ``agency``, ``courier``):
``SHEBAO_LOAD_KEYS`` (JSON), else the development keys. The deployment must trust the
development face provider (a test or staging set-up, never production).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
import uuid
from typing import Any

from locust import HttpUser, constant, events, task
from locust.clients import HttpSession

from deploy.demo.citizens import Citizen, face_check_for, fake_citizen
from deploy.endpoints import KEYS
from deploy.state import endpoints

URLS = endpoints()
ROLES: dict[str, str] = {**KEYS, **json.loads(os.environ.get("SHEBAO_LOAD_KEYS", "{}"))}
#: Seconds a journey may take, waiting for events included.
JOURNEY_TIMEOUT_S = float(os.environ.get("SHEBAO_LOAD_JOURNEY_TIMEOUT_S", "60"))
EXPECTED_MESSAGES = {"card_mailed", "card_activated"}


class JourneyFailedError(Exception):
    """A step answered something other than success, or the platform did not tell."""


class Step:
    """Calls of one journey: one Idempotency-Key per step over the retries of a lost answer
    (a new one after an answer that says an event has not arrived: that answer is kept under
    its key), the citizen's token once they signed in."""

    def __init__(self, client: HttpSession) -> None:
        self.client = client
        self.deadline = time.monotonic() + JOURNEY_TIMEOUT_S
        self.signed_in: dict[str, str] = {}
        self.correlation = {"X-Correlation-Id": f"load-{secrets.token_hex(8)}"}

    def send(
        self,
        method: str,
        url: str,
        route: str,
        role: str,
        body: dict[str, Any] | None = None,
        *,
        waits_for: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """Send until success; a 503 or an awaited event's absence is retried."""
        headers = {
            **self.correlation,
            **(self.signed_in if role == "channel" else {}),
            "Idempotency-Key": str(uuid.uuid4()),
            "X-Api-Key": ROLES[role],
        }
        while True:
            with self.client.request(
                method, url, json=body, headers=headers, name=route, catch_response=True
            ) as response:
                if 200 <= response.status_code < 300:
                    answer: dict[str, Any] = response.json() if response.content else {}
                    return answer
                code = response.json().get("code", "") if response.content else ""
                again = code in waits_for or response.status_code == 503
                if again and time.monotonic() < self.deadline:
                    response.success()  # an expected wait, not a failure
                    if code in waits_for:  # answered: asked again, it is a new command
                        headers["Idempotency-Key"] = str(uuid.uuid4())
                    time.sleep(0.05 if code in waits_for else 0.5)
                    continue
                response.failure(f"{response.status_code} {code}")
                raise JourneyFailedError(f"{route}: {response.status_code} {code}")


def journey(client: HttpSession, citizen: Citizen) -> None:
    """One citizen from no card to an active card, told by SMS and in the app."""
    step = Step(client)
    step.send(
        "POST", f"{URLS.identity}/v1/persons", "/v1/persons", "operator", citizen.registration()
    )
    verified = step.send(
        "POST",
        f"{URLS.identity}/v1/verifications",
        "/v1/verifications",
        "channel",
        {
            "name": citizen.name,
            "id_number": citizen.id_number,
            "face_check": face_check_for(citizen).model_dump(mode="json"),
        },
    )
    person = verified["person_id"]
    step.signed_in = {"Authorization": f"Bearer {verified['citizen_token']}"}
    step.send(
        "PUT",
        f"{URLS.notification}/v1/persons/{person}/preferences",
        "/v1/persons/{id}/preferences",
        "channel",
        {"channels": ["app_push", "sms"], "phone": citizen.phone},
    )
    applied = step.send(
        "POST",
        f"{URLS.card}/v1/applications",
        "/v1/applications",
        "channel",
        {
            "person_id": person,
            "region": citizen.region,
            "delivery": "mail",
            "photo_ref": f"photo-{secrets.token_hex(6)}",
        },
        waits_for=frozenset({"IDENTITY_NOT_VERIFIED"}),
    )
    card = f"{URLS.card}/v1/cards/{applied['card_id']}"
    step.send(
        "POST",
        f"{card}/production",
        "/v1/cards/{id}/production",
        "agency",
        {
            "card_number": f"S{secrets.randbelow(10**9):09d}",
            "chip_serial": secrets.token_hex(8).upper(),
        },
    )
    step.send(
        "POST",
        f"{card}/mailing",
        "/v1/cards/{id}/mailing",
        "courier",
        {"courier": "EMS", "tracking_number": f"EMS{secrets.randbelow(10**10):010d}"},
    )
    step.send("POST", f"{card}/delivery", "/v1/cards/{id}/delivery", "courier", {})
    step.send(
        "POST",
        f"{URLS.activation}/v1/activations",
        "/v1/activations",
        "channel",
        {"card_id": applied["card_id"], "person_id": person},
        waits_for=frozenset({"CARD_NOT_FOUND", "CARD_NOT_DELIVERED", "IDENTITY_NOT_VERIFIED"}),
    )
    told(step, person)


def told(step: Step, person: str) -> None:
    """Wait until the citizen sees every message of the journey as sent."""
    url = f"{URLS.notification}/v1/persons/{person}/messages"
    while True:
        messages = step.client.get(
            url,
            headers={**step.signed_in, "X-Api-Key": ROLES["channel"]},
            name="/v1/persons/{id}/messages",
        ).json()
        sent = {m["template"] for m in messages if m["status"] == "sent"}
        if sent >= EXPECTED_MESSAGES and all(m["status"] == "sent" for m in messages):
            return
        if time.monotonic() > step.deadline:
            raise JourneyFailedError(f"not told: {sorted(EXPECTED_MESSAGES - sent)}")
        time.sleep(0.1)


class CitizenJourneys(HttpUser):
    """A citizen after another, each through the whole journey, with no pause between."""

    host = URLS.identity
    wait_time = constant(0)

    @task
    def whole_journey(self) -> None:
        """One journey, reported as a request of its own."""
        citizen = fake_citizen(random.Random(secrets.randbits(64)))  # noqa: S311 - made up
        started = time.perf_counter()
        failure: Exception | None = None
        try:
            journey(self.client, citizen)
        except (JourneyFailedError, ValueError, KeyError) as exc:
            failure = exc
            time.sleep(1)  # a failing deployment is not hammered by retries
        events.request.fire(  # type: ignore[no-untyped-call]
            request_type="JOURNEY",
            name="whole journey",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=failure,
            context={},
        )
