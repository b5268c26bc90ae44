"""``shebao demo``: drive citizens through the whole journey against a running stack."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from deploy.demo.citizens import Citizen, face_check_for, fake_citizen
from deploy.endpoints import KEYS, Endpoints
from shared.idnumber import mask_id_number

EXPECTED_MESSAGES = {"card_mailed", "card_activated"}


@dataclass
class Journey:
    """One citizen's way through the platform, and what each service recorded."""

    masked_id_number: str
    person_id: str | None = None
    card_id: str | None = None
    completed: bool = False
    failure: str | None = None
    seconds: float = 0.0
    timeline: list[dict[str, Any]] = field(default_factory=list)


class JourneyFailedError(Exception):
    """A step of the journey answered something other than success."""


#: A keyed command took effect but its answer was lost in a fault: details name its events.
ANSWER_LOST = "IDEMPOTENCY_ANSWER_LOST"
Recover = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]


#: Sends one try of a step under the Idempotency-Key it is given.
Send = Callable[[str], Awaitable[httpx.Response]]


async def _call(
    send: Send,
    *,
    retry_codes: frozenset[str] = frozenset(),
    deadline: float,
    recover: Recover | None = None,
) -> dict[str, Any]:
    """Send until success. A command keeps one Idempotency-Key over the tries whose answer
    was lost (a cut connection, a service restarting, a 503), so it is retried safely: it gets
    the first answer instead of running twice. When even the kept answer was lost (the service
    died between its commit and keeping it), the step took effect: ``recover`` reads what the
    answer would have said (a step that needs nothing of it goes on). An answer whose code
    says an event has not arrived yet (``retry_codes``) is an answer: it is kept under its key
    and replayed for it, so the step is asked again under a new key."""
    key = str(uuid.uuid4())
    while True:
        try:
            response = await send(key)
        except httpx.TransportError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        if response.status_code < 300:
            body: dict[str, Any] = response.json()
            return body
        code = response.json().get("code", "") if response.content else ""
        if code == ANSWER_LOST:
            return await recover(response.json()["details"]) if recover else {}
        not_yet = code in retry_codes
        wait = 0.05 if not_yet else _retry_after(response, code)
        if wait is not None and time.monotonic() < deadline:
            if not_yet:
                key = str(uuid.uuid4())
            await asyncio.sleep(wait)
            continue
        raise JourneyFailedError(f"{response.request.url.path}: {response.status_code} {code}")


def _retry_after(response: httpx.Response, code: str) -> float | None:
    """How long to wait before trying again, when the answer says to (None: do not)."""
    if response.status_code != 503 and code != "IDEMPOTENCY_KEY_IN_USE":
        return None
    try:
        return min(float(response.headers.get("Retry-After", "1")), 2.0)
    except ValueError:
        return 1.0


async def run_journey(
    client: httpx.AsyncClient, urls: Endpoints, citizen: Citizen, timeout_s: float = 60
) -> Journey:
    """Verify -> apply -> produce -> mail -> activate -> notified, for one citizen."""
    journey = Journey(masked_id_number=mask_id_number(citizen.id_number))
    started = time.monotonic()
    deadline = started + timeout_s
    headers = {"X-Correlation-Id": f"demo-{secrets.token_hex(8)}"}
    #: The citizen signs in on the online hall by verifying: its token goes with its calls.
    signed_in: dict[str, str] = {}

    def post(url: str, role: str, body: dict[str, Any]) -> Send:
        citizen_headers = signed_in if role == "channel" else {}
        return lambda key: client.post(
            url,
            json=body,
            headers={**headers, **citizen_headers, "Idempotency-Key": key, "X-Api-Key": KEYS[role]},
        )

    try:
        await _call(
            post(f"{urls.identity}/v1/persons", "operator", citizen.registration()),
            deadline=deadline,
        )

        async def verify(_: object = None) -> dict[str, Any]:
            # A lost answer held the citizen's token: they sign in again, with a new face check.
            body = {
                "name": citizen.name,
                "id_number": citizen.id_number,
                "face_check": face_check_for(citizen).model_dump(mode="json"),
            }
            send = post(f"{urls.identity}/v1/verifications", "channel", body)
            return await _call(send, deadline=deadline, recover=verify)

        verified = await verify()
        person_id = journey.person_id = verified["person_id"]
        signed_in["Authorization"] = f"Bearer {verified['citizen_token']}"
        # The citizen asks to be told by SMS as well as in the app.
        await _call(
            lambda key: client.put(
                f"{urls.notification}/v1/persons/{person_id}/preferences",
                json={"channels": ["app_push", "sms"], "phone": citizen.phone},
                headers={
                    **headers,
                    **signed_in,
                    "Idempotency-Key": key,
                    "X-Api-Key": KEYS["channel"],
                },
            ),
            deadline=deadline,
        )
        applied = await _call(
            post(
                f"{urls.card}/v1/applications",
                "channel",
                {
                    "person_id": person_id,
                    "region": citizen.region,
                    "delivery": "mail",
                    "photo_ref": f"photo-{secrets.token_hex(6)}",
                },
            ),
            retry_codes=frozenset({"IDENTITY_NOT_VERIFIED"}),
            deadline=deadline,
            recover=lambda events: _card_applied(client, urls, person_id, events, signed_in),
        )
        card_id = journey.card_id = applied["card_id"]
        await _call(
            post(
                f"{urls.card}/v1/cards/{card_id}/production",
                "agency",
                {
                    "card_number": f"S{secrets.randbelow(10**9):09d}",
                    "chip_serial": secrets.token_hex(8).upper(),
                },
            ),
            deadline=deadline,
        )
        await _call(
            post(
                f"{urls.card}/v1/cards/{card_id}/mailing",
                "courier",
                {"courier": "EMS", "tracking_number": f"EMS{secrets.randbelow(10**10):010d}"},
            ),
            deadline=deadline,
        )
        # A card is activated once it is in the holder's hands, not while it is in the mail.
        await _call(
            post(f"{urls.card}/v1/cards/{card_id}/delivery", "courier", {}), deadline=deadline
        )
        await _call(
            post(
                f"{urls.activation}/v1/activations",
                "channel",
                {"card_id": card_id, "person_id": person_id},
            ),
            retry_codes=frozenset(
                {"CARD_NOT_FOUND", "CARD_NOT_DELIVERED", "IDENTITY_NOT_VERIFIED"}
            ),
            deadline=deadline,
        )
        await _await_messages(
            client, urls, person_id, deadline, {**signed_in, "X-Api-Key": KEYS["channel"]}
        )
        journey.completed = True
    except (JourneyFailedError, httpx.HTTPError) as exc:
        journey.failure = str(exc) or type(exc).__name__
    journey.seconds = time.monotonic() - started
    if journey.person_id:
        # The citizen reads their own history, signed in (an operator's read would be logged).
        reader = {**signed_in, "X-Api-Key": KEYS["channel"]} if signed_in else None
        journey.timeline = await person_timeline(client, urls, journey.person_id, reader)
    return journey


async def _card_applied(
    client: httpx.AsyncClient,
    urls: Endpoints,
    person_id: str,
    events: list[dict[str, Any]],
    signed_in: dict[str, str],
) -> dict[str, Any]:
    """The card an application whose answer was lost created: from the citizen's history."""
    applied = {e["event_id"] for e in events if e["event_type"] == "CardApplied"}
    history = await client.get(
        f"{urls.card}/v1/persons/{person_id}/events",
        headers={**signed_in, "X-Api-Key": KEYS["channel"]},
    )
    history.raise_for_status()
    found = [e["payload"]["card_id"] for e in history.json() if e["event_id"] in applied]
    if not found:
        raise JourneyFailedError("the application's answer was lost and its card not found")
    return {"card_id": found[0]}


async def _await_messages(
    client: httpx.AsyncClient,
    urls: Endpoints,
    person_id: str,
    deadline: float,
    headers: dict[str, str],
) -> None:
    """Wait until the citizen (signed in, ``headers``) sees every message of the journey."""
    url = f"{urls.notification}/v1/persons/{person_id}/messages"
    while True:
        try:
            response = await client.get(url, headers=headers)
        except httpx.TransportError:
            response = None  # restarting: ask again
        if response is None or response.status_code == 503:
            if time.monotonic() > deadline:
                raise JourneyFailedError("notifications: the service did not answer")
            await asyncio.sleep(0.2)
            continue
        response.raise_for_status()
        messages = response.json()
        templates = {m["template"] for m in messages if m["status"] == "sent"}
        if templates >= EXPECTED_MESSAGES and all(m["status"] == "sent" for m in messages):
            return
        if time.monotonic() > deadline:
            raise JourneyFailedError(f"notifications missing: {EXPECTED_MESSAGES - templates}")
        await asyncio.sleep(0.1)


async def person_timeline(
    client: httpx.AsyncClient,
    urls: Endpoints,
    person_id: str,
    headers: dict[str, str] | None = None,
    unanswered: list[str] | None = None,
    refused: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Every event the four services recorded about a person, in time order: read by the
    citizen (``headers`` with their token), or by an operator at the citizen's request (each
    such read is logged in the person's history). The services that did not answer are added
    to ``unanswered``, those that refused the read (with the status) to ``refused``."""
    entries: list[dict[str, Any]] = []
    operator = {"X-Api-Key": KEYS["operator"], "X-Access-Reason": "CITIZEN_REQUEST"}
    for name, base in urls.all().items():
        try:
            response = await client.get(
                f"{base}/v1/persons/{quote(person_id, safe='')}/events", headers=headers or operator
            )
        except httpx.HTTPError:
            if unanswered is not None:
                unanswered.append(name)  # a service that does not answer (restarting)
            continue
        if response.status_code == 200:
            entries.extend(response.json())
        elif refused is not None:
            refused.append(f"{name} ({response.status_code})")
    return sorted(entries, key=lambda e: (e["occurred_at"], e["stream_version"]))


async def run_demo(
    urls: Endpoints,
    citizens: int,
    *,
    concurrency: int = 8,
    seed: int | None = None,
    timeout_s: float = 60,
) -> list[Journey]:
    """Run ``citizens`` journeys, at most ``concurrency`` at a time."""
    rng = random.Random(seed)  # noqa: S311 - made-up citizens, not secrets
    people = [fake_citizen(rng) for _ in range(citizens)]
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(citizen: Citizen) -> Journey:
            async with gate:
                return await run_journey(client, urls, citizen, timeout_s)

        return list(await asyncio.gather(*(one(c) for c in people)))
