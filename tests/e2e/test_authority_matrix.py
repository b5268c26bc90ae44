"""The whole authorisation matrix, on the real stack: every route of every service (from its
OpenAPI document) x every role x, for a self-service role, every kind of citizen token. Each
cell's answer is asserted against ``shared.policy``; a route without a policy fails here.

Cells of a self-service role, where the request names person P:
own (P's token), stranger (another citizen's), family (the token of a holder who linked P),
backwards (the token of a member P linked, naming P), none, expired, forged, wrong audience,
other channel (P's token from another app).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from deploy.demo.citizens import face_check_for
from deploy.stack import SERVICES, ServiceProcess
from shared import citizen
from shared.envelope import utc_now
from shared.policy import EVERY_ROLE, POLICY, Rule
from shared.settings import DEV_API_KEYS
from shared.signing import SigningKeys
from tests.e2e.harness import SELF_SERVICE_KEYS, as_citizen
from tests.e2e.test_cards import Api

AUTH_CODES = {
    "FAMILY_GRANT_REQUIRED",
    "FAMILY_GRANT_INVALID",
    "FAMILY_GRANT_EXPIRED",
    "AUTH_REQUIRED",
    "AUTH_INVALID",
    "ROLE_FORBIDDEN",
    "PERSON_FORBIDDEN",
    "TOKEN_REQUIRED",
    "TOKEN_EXPIRED",
    "TOKEN_INVALID",
    "TOKEN_OTHER_CHANNEL",
}
KEY_OF_ROLE = {client.role: key for key, client in DEV_API_KEYS.items()}
DEV_KEYS = SigningKeys.from_seeds({citizen.DEV_KEY_ID: citizen.DEV_SEED})
ALLOWED = "allowed"


@dataclass(frozen=True)
class Cell:
    """One request of the matrix and the answer the policy says it gets."""

    service: str
    method: str
    path: str
    role: str
    variant: str
    expected: str  # ALLOWED, or the refusal code


@dataclass
class People:
    """Holder H who linked member M, and a stranger S; each with a card, signed in everywhere."""

    api: Api
    holder: str = ""
    member: str = ""
    stranger: str = ""
    cards: dict[str, str] | None = None


async def _people(api: Api) -> People:
    people = People(api)
    holder, people.holder = await api.verified_citizen(301)
    member, people.member = await api.verified_citizen(302)
    _, people.stranger = await api.verified_citizen(303)
    people.cards = {}
    for person, region in ((people.holder, holder.region), (people.member, member.region)):
        people.cards[person] = await api.apply(person, region)
        await api.deliver(people.cards[person])
    linked = await api.client.post(
        f"{api.identity}/v1/persons/{people.holder}/family",
        headers=api.headers("dev-citizen-app", people.holder),
        json={
            "name": member.name,
            "id_number": member.id_number,
            "relation": "parent",
            "face_check": face_check_for(member).model_dump(mode="json"),
            "member_token": api.tokens[(people.member, "dev-citizen-app")],
        },
    )
    assert linked.status_code == 201, linked.text
    return people


def _expected(rule: Rule, role: str, variant: str, named_both: bool) -> str:
    if role in rule.staff:
        return ALLOWED
    if role not in rule.citizen:
        return "ROLE_FORBIDDEN"
    match variant:
        case "own":
            return ALLOWED
        case "stranger":
            return "PERSON_FORBIDDEN"
        case "family":
            return ALLOWED if rule.family or named_both else "PERSON_FORBIDDEN"
        case "family_no_grant":
            if named_both:
                return ALLOWED
            return "FAMILY_GRANT_REQUIRED" if rule.family else "PERSON_FORBIDDEN"
        case "backwards":
            return ALLOWED if named_both else "PERSON_FORBIDDEN"
        case "none":
            return "TOKEN_REQUIRED"
        case "expired":
            return "TOKEN_EXPIRED"
        case "other_channel":
            return "TOKEN_OTHER_CHANNEL"
        case _:  # forged, wrong audience
            return "TOKEN_INVALID"


VARIANTS = (
    "own",
    "stranger",
    "family",
    "family_no_grant",
    "backwards",
    "none",
    "expired",
    "forged",
    "wrong_audience",
    "other_channel",
)


def _token(people: People, key: str, variant: str, subject: str) -> str | None:
    api = people.api
    channel = DEV_API_KEYS[key].name
    now = utc_now()
    match variant:
        case "own" | "family" | "family_no_grant" | "backwards":
            actor = {
                "own": subject,
                "family": people.holder,  # naming the member
                "family_no_grant": people.holder,
                "backwards": people.member,  # naming the holder
            }[variant]
            return api.tokens[(actor, key)]
        case "stranger":
            return api.tokens[(people.stranger, key)]
        case "expired":
            past = now - timedelta(hours=1)
            return citizen.issue(DEV_KEYS, subject, channel, past, timedelta(minutes=5))[0]
        case "forged":
            forger = SigningKeys.from_seeds({citizen.DEV_KEY_ID: os.urandom(32)})
            return citizen.issue(forger, subject, channel, now, timedelta(minutes=5))[0]
        case "wrong_audience":
            claims = {
                "iss": citizen.ISSUER,
                "aud": "shebao-payment-code",
                "sub": subject,
                "azp": channel,
                "jti": "x",
                "iat": int(now.timestamp()),
                "exp": int((now + timedelta(minutes=5)).timestamp()),
            }
            return DEV_KEYS.sign(claims)
        case "other_channel":
            other = next(k for k in SELF_SERVICE_KEYS if k != key)
            return api.tokens[(subject, other)]
    return None


def _request(
    people: People, rule: Rule, path: str, variant: str
) -> tuple[str, dict[str, Any], bool]:
    """The concrete path and body naming the person the variant is about, and whether the
    request names both holder and member."""
    assert people.cards is not None
    subject = people.member if variant.startswith("family") else people.holder
    named_both = rule.subject is not None and len(rule.subject.fields) > 1
    values = {
        "person_id": subject,
        "holder_person_id": people.holder if named_both else subject,
        "member_person_id": people.member,
        "card_id": people.cards[subject],
        "channel": "dev-online-hall",
        "notification_id": "no-such-notification",
    }
    concrete = path
    for name, value in values.items():
        concrete = concrete.replace("{" + name + "}", value)
    body = {"person_id": subject, "card_id": people.cards[subject], "region": "110105"}
    return concrete, body, named_both


async def test_every_route_every_role_every_token(services: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)
        people = await _people(api)
        await asyncio.sleep(1)  # card and activation learn the cards and the family link
        cells: list[tuple[Cell, int, str]] = []
        # Unlinking ends the family link the other cells rely on: those routes go last.
        todo: list[tuple[str, str, str, Rule]] = []
        unlink_last: list[tuple[str, str, str, Rule]] = []
        for service in SERVICES:
            url = services[service].url
            spec = (await client.get(f"{url}/openapi.json")).json()
            for path, operations in spec["paths"].items():
                if not path.startswith("/v1/"):
                    continue
                for method in operations:
                    rule = POLICY[service].get((method.upper(), path))  # type: ignore[index]
                    assert rule is not None, f"{service} {method.upper()} {path} has no policy"
                    entry = (service, method.upper(), path, rule)
                    (unlink_last if path.endswith("/unlink") else todo).append(entry)
        for service, method, path, rule in [*todo, *unlink_last]:
            for missing, code in ((None, "AUTH_REQUIRED"), ("stolen-key", "AUTH_INVALID")):
                concrete, body, _ = _request(people, rule, path, "own")
                answer = await client.request(
                    method,
                    f"{services[service].url}{concrete}",
                    headers={"X-Api-Key": missing} if missing else {},
                    json=None if method == "GET" else body,
                )
                cell = Cell(service, method, path, str(missing), "own", code)
                cells.append((cell, answer.status_code, answer.json().get("code", "")))
            for role in EVERY_ROLE:
                key = KEY_OF_ROLE[role]
                variants = VARIANTS if role in rule.citizen else ("own",)
                for variant in variants:
                    concrete, body, named_both = _request(people, rule, path, variant)
                    subject = people.member if variant.startswith("family") else people.holder
                    self_service = role in rule.citizen
                    token = _token(people, key, variant, subject) if self_service else None
                    extra = {"X-Access-Reason": "AUDIT"}
                    if variant == "family":  # identity's fresh grant to act for the member
                        extra["X-Family-Grant"] = await api.grant(people.holder, people.member, key)
                    answer = await client.request(
                        method,
                        f"{services[service].url}{concrete}",
                        headers={**as_citizen(key, token), **extra},
                        json=None if method == "GET" else body,
                    )
                    expected = _expected(rule, role, variant, named_both)
                    cell = Cell(service, method, path, role, variant, expected)
                    content = answer.json() if answer.content else {}
                    code = content.get("code", "") if isinstance(content, dict) else ""
                    cells.append((cell, answer.status_code, code))
    wrong = [
        (c, status, code)
        for c, status, code in cells
        if status >= 500
        or (c.expected == ALLOWED and code in AUTH_CODES)
        or (c.expected != ALLOWED and code != c.expected)
    ]
    assert wrong == [], "\n".join(
        f"{c.service} {c.method} {c.path} as {c.role} ({c.variant}): expected {c.expected}, "
        f"got {status} {code}"
        for c, status, code in wrong[:40]
    )
    tally = Counter("allowed" if c.expected == ALLOWED else c.expected for c, _, _ in cells)
    print(f"\nauthorisation matrix: {len(cells)} cells, {dict(tally)}")
    routes = [rule for rules in POLICY.values() for rule in rules.values()]
    per_role = [len(VARIANTS) if role in r.citizen else 1 for r in routes for role in EVERY_ROLE]
    assert len(cells) == sum(per_role) + 2 * len(routes)


async def test_who_looked_is_in_the_persons_history(services: dict[str, ServiceProcess]) -> None:
    """Every read of a person's data by staff or an operator is recorded, with who, through
    which channel and why, and the person sees it in their own history; their own reads are
    not logged. An operator states a reason or reads nothing."""
    card_url = services["card"].url
    async with httpx.AsyncClient(timeout=60) as client:
        api = Api(client, services)
        citizen, person = await api.verified_citizen(304)
        card_id = await api.apply(person, citizen.region)
        events = f"{card_url}/v1/persons/{person}/events"

        unexplained = await client.get(events, headers={"X-Api-Key": "dev-operator"})
        assert (unexplained.status_code, unexplained.json()["code"]) == (
            422,
            "ACCESS_REASON_REQUIRED",
        )
        made_up = {"X-Api-Key": "dev-operator", "X-Access-Reason": "CURIOSITY"}
        assert (await client.get(events, headers=made_up)).status_code == 422
        audit = {"X-Api-Key": "dev-operator", "X-Access-Reason": "AUDIT"}
        assert (await client.get(events, headers=audit)).status_code == 200
        # A counter's reason is its work's, whatever it says.
        window = await client.get(
            f"{card_url}/v1/cards/{card_id}",
            headers={"X-Api-Key": "dev-window", "X-Access-Reason": "LEGAL_ORDER"},
        )
        assert window.status_code == 200, window.text
        # Listing the applications to produce is a read of each person listed.
        agency = {"X-Api-Key": "dev-printing-agency"}
        pending = await client.get(f"{card_url}/v1/production/pending?limit=1000", headers=agency)
        assert person in {c["person_id"] for c in pending.json()}
        # A made-up id reads nothing, and writes nothing either.
        for made_up in ("someone", person.upper(), f"{{{person}}}"):
            await client.get(f"{card_url}/v1/persons/{made_up}/events", headers=audit)
        own = api.headers("dev-citizen-app", person)
        for _ in range(3):  # the citizen's own reads are not logged
            assert (await client.get(f"{card_url}/v1/cards/{card_id}", headers=own)).is_success
        mine = (await client.get(events, headers=own)).json()
        # One message's delivery log, read by an operator, is logged in the notification
        # service's history of the person.
        notification = services["notification"].url
        messages: list[dict[str, str]] = []
        for _ in range(200):
            listed = await client.get(f"{notification}/v1/persons/{person}/messages", headers=own)
            messages = listed.json()
            if messages:
                break
            await asyncio.sleep(0.05)
        detail = f"{notification}/v1/notifications/{messages[0]['notification_id']}"
        assert (await client.get(detail, headers={"X-Api-Key": "dev-operator"})).status_code == 422
        assert (await client.get(detail, headers=audit)).status_code == 200
        told = await client.get(f"{notification}/v1/persons/{person}/events", headers=own)
        routes = [
            e["payload"]["route"] for e in told.json() if e["event_type"] == "PersonDataAccessed"
        ]
        assert routes == ["GET /v1/notifications/{notification_id}"]
    looked = [e for e in mine if e["event_type"] == "PersonDataAccessed"]
    seen = [
        (e["payload"]["accessed_by"], e["payload"]["channel"], e["payload"]["reason"])
        for e in looked
    ]
    assert seen == [
        ("dev-operator", "operator", "AUDIT"),
        ("dev-window-clerk", "window", "COUNTER_SERVICE"),
        ("dev-printing-agency", "printing_agency", "CARD_PRODUCTION"),
    ]
    assert [e["payload"]["route"] for e in looked] == [
        "GET /v1/persons/{person_id}/events",
        "GET /v1/cards/{card_id}",
        "GET /v1/production/pending",
    ]
