"""Bad input never gets a 500: every route of every service, with malformed bodies, wrong
credentials and unknown ids, answers with a 4xx and a reason code."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from deploy.demo.citizens import fake_citizen
from deploy.stack import SERVICES, ServiceProcess
from tests.e2e.harness import SELF_SERVICE_KEYS, as_citizen, register, sign_in

BODIES: list[Any] = [
    None,
    "not json",
    [],
    {"x": 1},
    {"person_id": "x" * 5000, "card_id": None, "password": 123456},
    {"id_number": "1" * 40, "name": "\U00020000" * 99, "region": "99", "kind": "nonsense"},
    '{"password": ' + "[" * 5000 + "]" * 5000 + "}",  # nested past the parser's depth
]
KEYS = ["dev-operator", "dev-window", "dev-printing-agency", "dev-hospital", "stolen-key"]
IDS = (
    "person_id",
    "card_id",
    "holder_person_id",
    "member_person_id",
    "channel",
    "notification_id",
)


async def routes(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess], ids: Callable[[str], str]
) -> list[tuple[str, str, str, str]]:
    """(base URL, path template, path with each id replaced by ``ids(name)``, method) of every
    route of every service, from its OpenAPI document."""
    found = []
    for service in (services[name] for name in SERVICES):
        spec = (await client.get(f"{service.url}/openapi.json")).json()
        for path, operations in spec["paths"].items():
            concrete = path
            for name in IDS:
                concrete = concrete.replace("{" + name + "}", ids(name))
            found += [(service.url, path, concrete, method) for method in operations]
    return found


async def test_every_route_answers_bad_input_with_a_reason(
    services: dict[str, ServiceProcess],
) -> None:
    failures: list[tuple[str, str, int]] = []
    sent = 0
    async with httpx.AsyncClient(timeout=30) as client:
        every = await routes(client, services, lambda name: f"no-such-{name}")
        for (base, path, concrete, method), body, key in itertools.product(every, BODIES, KEYS):
            headers = {"X-Api-Key": key, "content-type": "application/json"}
            content = body if isinstance(body, str) else None
            response = await client.request(
                method.upper(),
                f"{base}{concrete}",
                headers=headers,
                content=content,
                json=None if isinstance(body, str) or body is None else body,
            )
            sent += 1
            if response.status_code >= 500 or (
                response.status_code >= 400 and "code" not in response.json()
            ):
                failures.append((method, path, response.status_code))
    assert sent > 1000
    assert failures == []


@pytest.mark.parametrize(
    ("bad", "in_path"),
    [("ab\x00cd", "ab%00cd"), ("ab\ud800cd", "no-such-id")],
    ids=["nul", "lone-surrogate"],
)
async def test_text_that_cannot_be_stored_is_refused_with_a_reason(
    services: dict[str, ServiceProcess], bad: str, in_path: str
) -> None:
    # PostgreSQL stores no NUL, and no text holds a lone surrogate (JSON "\ud800" parses into
    # one): every route, as every role, with one in each id of the path (NUL) and in every
    # text field a body may carry.
    body = {field: bad for field in (*IDS, "region", "name", "id_number", "password", "code")}
    content = json.dumps(body).encode()  # escaped: what a careless client sends
    keys = ["dev-operator", "dev-window", *SELF_SERVICE_KEYS, "dev-bank", "dev-hospital"]
    keys += ["dev-pharmacy", "dev-printing-agency", "dev-courier"]
    failures: list[tuple[str, str, str, int]] = []
    async with httpx.AsyncClient(timeout=30) as client:
        # Self-service channels carry a real citizen's token: past it, the text is met too.
        citizen = fake_citizen(random.Random(19))
        await register(services["identity"].url, citizen)
        tokens = {
            key: (await sign_in(client, services["identity"].url, citizen, key))[1]
            for key in SELF_SERVICE_KEYS
        }
        every = await routes(client, services, lambda _: in_path)
        for (base, path, concrete, method), key in itertools.product(every, keys):
            response = await client.request(
                method.upper(),
                f"{base}{concrete}",
                headers={
                    **as_citizen(key, tokens.get(key)),
                    "content-type": "application/json",
                    "X-Access-Reason": "AUDIT",
                },
                content=None if method == "get" else content,
            )
            if response.status_code >= 500 or (
                response.status_code >= 400 and "code" not in response.json()
            ):
                failures.append((method, path, key, response.status_code))
    assert failures == []


async def test_a_body_that_is_not_utf8_gets_the_standard_error(
    services: dict[str, ServiceProcess],
) -> None:
    # Before any key is checked: the same {code, message} shape, with a code that says why.
    async with httpx.AsyncClient(timeout=30) as client:
        every = await routes(client, services, lambda name: f"no-such-{name}")
        answers = set()
        for base, _, concrete, method in every:
            if method == "get":
                continue
            for key in ("dev-operator", "stolen-key"):
                response = await client.request(
                    method.upper(),
                    f"{base}{concrete}",
                    headers={"X-Api-Key": key, "content-type": "application/json"},
                    content=b'{"name": "\xff\xfe"}',
                )
                assert response.status_code < 500, (method, concrete)
                answers.add((response.status_code, response.json()["code"]))
    assert (400, "BODY_NOT_UTF8") in answers
    assert all(not code.startswith("HTTP_") for _, code in answers), answers


async def test_a_correlation_id_that_is_no_plain_token_is_replaced(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for given in ("a\x01b", "x" * 20_000, "ok-123"):
            response = await client.get(
                f"{services['card'].url}/health", headers={"X-Correlation-Id": given}
            )
            kept = response.headers["X-Correlation-Id"]
            assert (kept == given) == (given == "ok-123"), given[:10]
            assert len(kept) <= 128
            if given == "a\x01b":  # no valid HTTP (RFC 9110 5.5): the standard 400
                assert response.status_code == 400
                assert response.json()["code"] == "REQUEST_MALFORMED"


async def test_a_body_that_is_no_json_gets_the_standard_400(
    services: dict[str, ServiceProcess],
) -> None:
    url = f"{services['identity'].url}/v1/verifications"
    async with httpx.AsyncClient(timeout=30) as client:
        for body, code in ((b"\xff\xfe", "BODY_NOT_UTF8"), (b"name=x", "BODY_UNREADABLE")):
            answer = await client.post(
                url,
                content=body,
                headers={"X-Api-Key": "dev-online-hall", "content-type": "application/json"},
            )
            assert (answer.status_code, answer.json()["code"]) == (400, code), answer.text
