"""Request bodies from careless and hostile clients: too large (refused before it is read and
before any credential is looked at), too slow, not sent as JSON, and two credentials in one
request. Each gets its own 4xx and reason code; none ties up the service."""

from __future__ import annotations

import asyncio
import random
import time
from urllib.parse import urlsplit

import httpx

from deploy.demo.citizens import fake_citizen
from deploy.stack import ServiceProcess
from shared.bodies import BODY_TIMEOUT_S, MAX_BODY_BYTES
from tests.e2e.harness import as_citizen, register, sign_in


async def _raw(url: str, request: bytes, wait_s: float) -> bytes:
    """Send ``request`` as it is on a new connection; what came back within ``wait_s``."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), wait_s)
    finally:
        writer.close()


async def test_a_body_declared_too_large_is_refused_before_it_is_sent_or_a_key_checked(
    services: dict[str, ServiceProcess],
) -> None:
    # No credential, 50 MB announced and nothing sent: the answer does not wait for it.
    started = time.monotonic()
    answer = await _raw(
        services["activation"].url,
        b"POST /v1/settlements/authorize HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n",
        wait_s=5,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert b'"code":"BODY_TOO_LARGE"' in answer
    assert time.monotonic() - started < 5


async def test_a_streamed_body_is_cut_off_at_the_limit(
    services: dict[str, ServiceProcess],
) -> None:
    sent = 0

    async def chunks():  # type: ignore[no-untyped-def]
        nonlocal sent
        for _ in range(64):  # 4 MiB, no Content-Length: chunked
            sent += 65536
            yield b" " * 65536

    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{services['card'].url}/v1/applications",
            content=chunks(),
            headers={"X-Api-Key": "dev-window", "content-type": "application/json"},
        )
    assert (answer.status_code, answer.json()["code"]) == (413, "BODY_TOO_LARGE")
    assert str(MAX_BODY_BYTES) in answer.json()["message"]


async def test_a_body_that_stops_arriving_is_given_up(
    services: dict[str, ServiceProcess],
) -> None:
    started = time.monotonic()
    answer = await _raw(
        services["identity"].url,
        b"POST /v1/verifications HTTP/1.1\r\nHost: x\r\nX-Api-Key: dev-online-hall\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":',
        wait_s=BODY_TIMEOUT_S + 10,
    )
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b'"code":"BODY_TIMEOUT"' in answer
    assert time.monotonic() - started < BODY_TIMEOUT_S + 10


async def test_the_registry_import_still_takes_a_file_larger_than_a_command(
    services: dict[str, ServiceProcess],
) -> None:
    # 2 MiB of CSV: over a command's limit, under the import's; refused for its rows only.
    csv = b"name,id_number,phone,region,guardian_id_number\n" + b"x,1,,,\n" * 300_000
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.post(
            f"{services['identity'].url}/v1/registry/imports",
            content=csv,
            headers={"X-Api-Key": "dev-operator", "content-type": "text/csv"},
        )
    assert answer.status_code != 413, answer.text[:200]
    assert answer.status_code < 500


async def test_a_body_not_sent_as_json_is_refused_the_same_way_on_every_route(
    services: dict[str, ServiceProcess],
) -> None:
    citizen = fake_citizen(random.Random(4150))
    await register(services["identity"].url, citizen)
    async with httpx.AsyncClient(timeout=30) as client:
        person_id, token = await sign_in(
            client, services["identity"].url, citizen, "dev-citizen-app"
        )
        routes = [
            (services["identity"].url, "/v1/verifications", {"X-Api-Key": "dev-online-hall"}),
            # The policy reads this one's body first, for the person it names.
            (services["card"].url, "/v1/applications", as_citizen("dev-citizen-app", token)),
            (services["activation"].url, "/v1/activations", {"X-Api-Key": "dev-window"}),
        ]
        for base, path, headers in routes:
            for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/xml"):
                answer = await client.post(
                    f"{base}{path}",
                    content=b'{"person_id": "%s", "card_id": "c1"}' % person_id.encode(),
                    headers={**headers, "content-type": content_type},
                )
                assert (answer.status_code, answer.json()["code"]) == (415, "JSON_EXPECTED"), (
                    path,
                    content_type,
                    answer.text,
                )
            empty = await client.post(f"{base}{path}", headers=headers)
            assert (empty.status_code, empty.json()["code"]) == (422, "INVALID_REQUEST"), path


async def test_two_credentials_in_one_request_are_refused(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for name, values in (
            ("X-Api-Key", ("dev-window", "dev-online-hall")),
            ("Authorization", ("Bearer a", "Bearer b")),
        ):
            answer = await client.post(
                f"{services['activation'].url}/v1/activations",
                json={"card_id": "c1", "person_id": "p1"},
                headers=[("X-Api-Key", "dev-window"), *((name, v) for v in values)]
                if name != "X-Api-Key"
                else [(name, v) for v in values],
            )
            assert (answer.status_code, answer.json()["code"]) == (400, "CREDENTIAL_AMBIGUOUS")
