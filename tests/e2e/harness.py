"""Running the four real service processes against the test infrastructure, and reading
what they published."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from deploy.demo.citizens import Citizen
from deploy.endpoints import Endpoints
from deploy.stack import ServiceProcess, services_on_free_ports
from shared.envelope import Envelope

Record = ConsumerRecord[bytes, bytes]


running_services = services_on_free_ports


def endpoints(procs: dict[str, ServiceProcess]) -> Endpoints:
    """Base URLs of running services."""
    return Endpoints(**{name: proc.url for name, proc in procs.items()})


async def read_records(
    bootstrap: str,
    topics: list[str],
    *,
    keep: Callable[[Record], bool],
    done: Callable[[list[Record]], bool],
    timeout_s: float = 30,
    settle_s: float = 1.0,
) -> list[Record]:
    """Every record on ``topics`` from offset zero that ``keep`` accepts, read until ``done``
    holds (then ``settle_s`` more, to catch duplicates) or the timeout passes."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    kept: list[Record] = []
    deadline = time.monotonic() + timeout_s
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            kept.extend(r for records in batches.values() for r in records if keep(r))
            if settled_at is None and done(kept):
                settled_at = time.monotonic() + settle_s
            if settled_at is not None and time.monotonic() > settled_at:
                break
    finally:
        await consumer.stop()
    return kept


def envelope_of(record: Record) -> Envelope:
    """The envelope a record carries."""
    return Envelope.from_bytes(record.value or b"")


async def wait_for(condition: Callable[[], bool], timeout_s: float = 30) -> bool:
    """Poll until ``condition`` holds or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return condition()


async def register(identity_url: str, citizen: Citizen) -> str:
    """Register a citizen as the agency would; return the person id."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{identity_url}/v1/persons",
            json=citizen.registration(),
            headers={"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"},
        )
    assert response.status_code in (200, 201), response.text
    person_id: str = response.json()["person_id"]
    return person_id


#: The development credentials of the self-service channels: each acts only with a token.
SELF_SERVICE_KEYS = ("dev-online-hall", "dev-citizen-app", "dev-bank-app")


def as_citizen(key: str, token: str | None) -> dict[str, str]:
    """Headers of a channel acting for the citizen signed in on it (no token: none sent)."""
    headers = {"X-Api-Key": key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def sign_in(
    client: httpx.AsyncClient, identity_url: str, citizen: Citizen, key: str
) -> tuple[str, str]:
    """The citizen signs in on a self-service channel (name, ID number and their face): their
    person id and the channel's citizen token."""
    from deploy.demo.citizens import face_check_for

    response = await client.post(
        f"{identity_url}/v1/verifications",
        headers={"X-Api-Key": key},
        json={
            "name": citizen.name,
            "id_number": citizen.id_number,
            "face_check": face_check_for(citizen).model_dump(mode="json"),
        },
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    return str(answer["person_id"]), str(answer["citizen_token"])


async def receive_sms_code(
    client: httpx.AsyncClient,
    services: dict[str, ServiceProcess],
    person_id: str,
    phone: str,
    headers: dict[str, str],
) -> dict[str, str]:
    """The citizen (signed in: ``headers``) asks for a one-time code and reads it from the SMS
    that reached their phone (the local sink): ``{"code_id", "code"}``."""
    import re

    from deploy.demo.sink import SinkClient

    sink = SinkClient(services["sink"].url)
    before = len(sink.messages("sms", to=phone))
    asked = await client.post(
        f"{services['activation'].url}/v1/persons/{person_id}/sms-codes",
        headers=headers,
        json={"purpose": "password_recovery"},
    )
    assert asked.status_code == 201, asked.text
    for _ in range(300):
        texts = [str(m["text"]) for m in sink.messages("sms", to=phone)][before:]
        found = [m for m in (re.search(r"(?:验证码为|code is )(\d{6})", t) for t in texts) if m]
        if found:
            return {"code_id": asked.json()["code_id"], "code": found[-1].group(1)}
        await asyncio.sleep(0.05)
    raise AssertionError("no SMS with the code arrived")


async def choose_sms(
    client: httpx.AsyncClient,
    notification_url: str,
    person_id: str,
    phone: str,
    headers: dict[str, str],
) -> None:
    """The citizen asks to be told by SMS (and in the app), giving their mobile number."""
    chosen = await client.put(
        f"{notification_url}/v1/persons/{person_id}/preferences",
        headers=headers,
        json={"channels": ["app_push", "sms"], "phone": phone},
    )
    assert chosen.status_code == 200, chosen.text
