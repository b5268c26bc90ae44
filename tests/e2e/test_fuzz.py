"""No 5xx under fuzzing: schemathesis generates requests from each service's own OpenAPI
document (valid and invalid ones), sent as every role, signed in or not, about a real person
or made-up ones; every answer is below 500, and every refusal has the standard shape."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from deploy.demo.citizens import fake_citizen
from deploy.stack import SERVICES, ServiceProcess
from shared.policy import POLICY
from tests.e2e.harness import SELF_SERVICE_KEYS, register, sign_in

#: Examples per operation: bounded, so the run takes about a minute.
EXAMPLES = 25
STAFF_KEYS = (
    "dev-operator",
    "dev-window",
    "dev-bank",
    "dev-hospital",
    "dev-pharmacy",
    "dev-printing-agency",
    "dev-courier",
    "stolen-key",
)


@pytest.fixture(scope="module")
def citizen_tokens(services: dict[str, ServiceProcess]) -> tuple[str, dict[str, str]]:
    """A registered, signed-in citizen: their person id and a token per self-service key."""

    async def signed_in() -> tuple[str, dict[str, str]]:
        citizen = fake_citizen(random.Random(4242))
        person_id = await register(services["identity"].url, citizen)
        async with httpx.AsyncClient(timeout=30) as client:
            tokens = {
                key: (await sign_in(client, services["identity"].url, citizen, key))[1]
                for key in SELF_SERVICE_KEYS
            }
        return person_id, tokens

    return asyncio.run(signed_in())


def _refusal_is_standard(response: Any) -> bool:
    if response.status_code < 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and {"code", "message"} <= set(body)


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_error_under_fuzzing(
    services: dict[str, ServiceProcess],
    citizen_tokens: tuple[str, dict[str, str]],
    service: str,
) -> None:
    base = services[service].url
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec)
    person_id, tokens = citizen_tokens
    failures: list[tuple[str, str, int]] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        # Mostly a caller the policy lets in, so requests go past authorisation; else anyone.
        rule = POLICY[service].get((operation.method.upper(), operation.path))  # type: ignore[index]
        allowed = [f"dev-{role.replace('_', '-')}" for role in sorted(rule.roles())] if rule else []
        anyone = st.sampled_from([*STAFF_KEYS, *SELF_SERVICE_KEYS])

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=strategy,
            key=st.one_of(st.sampled_from(allowed), anyone) if allowed else anyone,
            about_the_citizen=st.booleans(),
        )
        def call(case: Any, key: str, about_the_citizen: bool) -> None:
            nonlocal sent
            headers = {**(case.headers or {}), "X-Api-Key": key, "X-Access-Reason": "AUDIT"}
            if key in tokens:
                headers["Authorization"] = f"Bearer {tokens[key]}"
            if about_the_citizen and case.path_parameters and "person_id" in case.path_parameters:
                case.path_parameters["person_id"] = person_id
            case.headers = headers
            response = case.call(base_url=base, timeout=30)
            sent += 1
            if response.status_code >= 500 or not _refusal_is_standard(response):
                failures.append((case.method, case.path, response.status_code))

        call()
    assert sent > 50
    assert failures == [], sorted(set(failures))[:20]
