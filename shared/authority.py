"""Enforcing ``shared.policy`` at every edge: one dependency, ``Caller``, on every route.

It authenticates the channel credential (``X-Api-Key``), finds the route's rule, and for a
self-service role verifies the citizen token (``Authorization: Bearer``) offline and checks
that its subject is the person the request names, or a family holder who linked that person.
Refusals: 400 ``CREDENTIAL_AMBIGUOUS`` (two credentials or two tokens), 401 ``AUTH_REQUIRED``
/ ``AUTH_INVALID`` (credential), 401 ``TOKEN_REQUIRED`` /
``TOKEN_EXPIRED`` / ``TOKEN_INVALID`` / ``TOKEN_OTHER_CHANNEL`` (citizen token), 403
``ROLE_FORBIDDEN`` (the role may not call the route), 403 ``PERSON_FORBIDDEN`` (the token's
citizen may not act for the person named). No refusal repeats what the request carried.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shared import citizen
from shared.aggregate import retry_on_conflict
from shared.bodies import json_body
from shared.claims import outside_command
from shared.contracts.access import PersonDataAccessed
from shared.db import Connection
from shared.envelope import utc_now
from shared.eventstore import EventStore
from shared.http import request_causation
from shared.policy import POLICY, Rule, Service, Subject
from shared.settings import ApiClient
from shared.signing import PublicKeys

_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="Channel credential")
_bearer = HTTPBearer(
    auto_error=False, description="Citizen token (self-service channels), from identity."
)

#: A record's id (a card, a message) -> the person it belongs to, if the service knows it.
Holder = Callable[[Connection, str], Awaitable[str | None]]
#: Holders remembered per lookup (a process's working set of cards and messages).
REMEMBERED_HOLDERS = 20_000


def remembered(lookup: Holder, size: int = REMEMBERED_HOLDERS) -> Holder:
    """``lookup``, remembering each holder found: whose a card or a message is never changes
    once known (a replacement is a new card), so a citizen's next read skips the query. What
    is not known yet is asked again (it may be known a moment later)."""
    known: dict[str, str] = {}

    async def holder(conn: Connection, value: str) -> str | None:
        if (person := known.get(value)) is not None:
            return person
        person = await lookup(conn, value)
        if person is not None:
            if len(known) >= size:
                del known[next(iter(known))]  # the oldest
            known[value] = person
        return person

    return holder


#: (holder, member) -> whether the holder linked the member (identity's family events).
FamilyLink = Callable[[Connection, str, str], Awaitable[bool]]


class RefusedError(HTTPException):
    """An authorisation refusal with its reason code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, detail=(code, message))


@dataclass(frozen=True)
class Authority:
    """A service's part of the policy: its rules, and how it learns whose a card is and who
    linked whom (from the events it consumes)."""

    service: Service
    holders: Mapping[str, Holder] = field(default_factory=dict)
    family_link: FamilyLink | None = None
    keys: PublicKeys | None = None

    def rule(self, method: str, path: str) -> Rule:
        """The rule of a route (every route has one: see ``check_routes``)."""
        return POLICY[self.service][(method, path)]


@dataclass(frozen=True)
class Acting:
    """Who a self-service request acts as: the signed-in citizen, and for whom."""

    token: citizen.CitizenToken
    person_id: str

    @property
    def on_behalf(self) -> bool:
        """The citizen acts for a family member, not for themselves."""
        return self.token.person_id != self.person_id


def check_routes(app: FastAPI, authority: Authority) -> None:
    """Refuse to build a service one of whose routes has no rule in the policy, or whose rules
    let a family holder act where the service cannot tell who linked whom."""
    service = authority.service
    if authority.family_link is None and any(r.family for r in POLICY[service].values()):
        raise RuntimeError(f"{service} has family rules but learns no family links")
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    missing = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method in operations
        if (method.upper(), path) not in POLICY[service]
    ]
    if missing:
        raise RuntimeError(f"routes of {service} without a policy: {', '.join(missing)}")


async def _authority(request: Request) -> Authority:
    return cast(Authority, request.app.state.authority)


#: The service's access rules, for a route that checks a second citizen token.
ServiceAuthority = Annotated[Authority, Depends(_authority)]


def authenticate(request: Request, key: str | None) -> ApiClient:
    """The caller a channel credential belongs to."""
    if any(len(request.headers.getlist(name)) > 1 for name in ("x-api-key", "authorization")):
        # Which one would count is a guess no caller should rely on: neither does.
        raise RefusedError(
            400, "CREDENTIAL_AMBIGUOUS", "Send one channel credential and at most one token."
        )
    if not key:
        raise RefusedError(401, "AUTH_REQUIRED", "Send your channel credential.")
    clients: Mapping[str, ApiClient] = request.app.state.settings.api_keys
    client = clients.get(key)
    if client is None:
        raise RefusedError(401, "AUTH_INVALID", "Unknown channel credential.")
    structlog.contextvars.bind_contextvars(caller=client.name)
    request.state.caller = client
    return client


async def authorize(
    request: Request,
    key: Annotated[str | None, Depends(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiClient:
    """Authenticate the caller and apply the route's rule (see the module's docstring)."""
    client = authenticate(request, key)
    authority: Authority = request.app.state.authority
    path = getattr(request.scope.get("route"), "path", "")
    rule = authority.rule(request.method, path)
    if client.role in rule.staff:
        if request.method == "GET" and rule.subject is not None:
            await _log_access(request, authority, rule.subject, client, f"GET {path}")
        return client
    if client.role not in rule.citizen:
        raise RefusedError(403, "ROLE_FORBIDDEN", f"Role {client.role} may not do this.")
    token = _token(authority, client, bearer)
    assert rule.subject is not None  # a self-service rule names its person (policy._rule)
    request.state.acting = await _acting(request, authority, rule, token)
    return client


def _token(
    authority: Authority, client: ApiClient, bearer: HTTPAuthorizationCredentials | None
) -> citizen.CitizenToken:
    if bearer is None or not bearer.credentials:
        raise RefusedError(
            401, "TOKEN_REQUIRED", "A self-service channel acts only with the citizen's token."
        )
    return signed_in(authority, client, bearer.credentials)


def signed_in(authority: Authority, client: ApiClient, raw: str) -> citizen.CitizenToken:
    """Who a citizen token says is signed in on the calling channel (401 with the reason when
    it says nothing)."""
    assert authority.keys is not None
    try:
        token = citizen.verify(authority.keys, raw)
    except citizen.TokenRefusedError as refused:
        raise RefusedError(401, refused.code, refused.message) from None
    if token.channel != client.name:
        raise RefusedError(
            401, "TOKEN_OTHER_CHANNEL", "The citizen token was issued to another channel."
        )
    return token


async def _acting(
    request: Request, authority: Authority, rule: Rule, token: citizen.CitizenToken
) -> Acting:
    assert rule.subject is not None
    named = await _named(request, rule.subject)
    pool = request.app.state.runtime.pool
    async with pool.acquire() as conn:
        persons = [await _person(conn, authority, rule.subject, value) for value in named]
        if token.person_id in persons:
            return Acting(token, token.person_id)
        if rule.family and authority.family_link is not None:
            for person in persons:
                if await authority.family_link(conn, token.person_id, person):
                    _check_grant(request, authority, token, person)
                    return Acting(token, person)
    raise RefusedError(
        403, "PERSON_FORBIDDEN", "The signed-in citizen may not act for this person."
    )


FAMILY_GRANT_HEADER = "X-Family-Grant"


def _check_grant(
    request: Request, authority: Authority, token: citizen.CitizenToken, member: str
) -> None:
    """A holder acts for a member only with identity's fresh grant (``X-Family-Grant``, a
    minute): an unlink takes effect everywhere within it, even before this service hears of
    it (and at once when it does)."""
    raw = request.headers.get(FAMILY_GRANT_HEADER)
    if not raw:
        raise RefusedError(
            403,
            "FAMILY_GRANT_REQUIRED",
            "Acting for a family member needs a fresh grant from identity "
            "(POST /v1/persons/{holder}/family/{member}/grant).",
        )
    assert authority.keys is not None
    try:
        grant = citizen.verify_grant(authority.keys, raw)
    except citizen.TokenRefusedError as refused:
        raise RefusedError(403, refused.code, refused.message) from None
    if (grant.holder, grant.member, grant.channel) != (token.person_id, member, token.channel):
        raise RefusedError(403, "FAMILY_GRANT_INVALID", "The family grant is for someone else.")


async def _named(request: Request, subject: Subject) -> list[str]:
    """The values of the subject's fields in the request."""
    if subject.where == "path":
        source: Any = request.path_params
    else:
        source = await json_body(request)
    values = [source.get(f) for f in subject.fields] if isinstance(source, dict) else []
    named = [v for v in values if isinstance(v, str) and v]
    if not named:
        raise RefusedError(422, "INVALID_REQUEST", "The request names no person.")
    if not all(_storable(v) for v in named):
        raise RefusedError(422, "TEXT_INVALID", "The person or card named is not valid text.")
    return named


def _storable(value: str) -> bool:
    """Text PostgreSQL can hold: no NUL, no lone surrogate."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


async def _person(conn: Connection, authority: Authority, subject: Subject, value: str) -> str:
    if subject.kind == "person":
        return value
    lookup = authority.holders.get(subject.kind)
    holder = await lookup(conn, value) if lookup is not None else None
    if holder is None:
        kind = subject.kind.upper()
        raise RefusedError(404, f"{kind}_NOT_FOUND", f"No such {subject.kind}.")
    return holder


def is_person_id(value: str) -> bool:
    """Whether ``value`` is a person id as the platform makes them (a canonical UUID)."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


#: Reasons an operator states (``X-Access-Reason``) to read a person's data.
OPERATOR_REASONS = frozenset(
    {"CITIZEN_REQUEST", "COMPLAINT", "AUDIT", "FRAUD_INVESTIGATION", "LEGAL_ORDER"}
)
#: The reason implied by the work of other staff.
STAFF_REASONS = {"window": "COUNTER_SERVICE", "printing_agency": "CARD_PRODUCTION"}
ACCESS_REASON_HEADER = "X-Access-Reason"
#: Person and card ids are UUIDs: a read of a longer "id" reads nothing and is not logged.
_ID_LENGTH = 64


async def _log_access(
    request: Request, authority: Authority, subject: Subject, client: ApiClient, route: str
) -> None:
    """Record a read of a person's data by staff or an operator, in the person's history in
    this service (``PersonDataAccessed``), before it is served."""
    stated = request.headers.get(ACCESS_REASON_HEADER)
    if client.role == "operator" and stated not in OPERATOR_REASONS:
        raise RefusedError(
            422,
            "ACCESS_REASON_REQUIRED",
            f"An operator states why ({ACCESS_REASON_HEADER}: one of "
            f"{', '.join(sorted(OPERATOR_REASONS))}).",
        )
    named = [v for v in await _named(request, subject) if len(v) <= _ID_LENGTH]
    async with request.app.state.runtime.pool.acquire() as conn:
        persons = [await _person(conn, authority, subject, value) for value in named]
    await record_access(request, client, persons, route, stated)


async def record_access(
    request: Request,
    client: ApiClient,
    persons: list[str],
    route: str,
    stated: str | None = None,
) -> None:
    """Record that staff or an operator read these persons' data (``PersonDataAccessed`` in
    each one's history here). An operator's reason is the one stated; other staff's is their
    work's. Ids that are no person id read nothing and are not logged."""
    reason = stated if client.role == "operator" else STAFF_REASONS.get(client.role, "AUDIT")
    runtime = request.app.state.runtime
    causation = request_causation(request)
    people = sorted({p for p in persons if is_person_id(p)})

    async def attempt() -> None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            for person in people:
                event = PersonDataAccessed(
                    accessed_by=client.name,
                    channel=client.role,
                    reason=reason,
                    route=route,
                    accessed_at=utc_now(),
                )
                store: EventStore = runtime.store
                stream = f"access-{person}"
                version = await store.version(conn, stream)
                envelopes = store.envelopes(stream, version, person, [event], causation)
                await store.append(conn, envelopes, causation.who)

    with outside_command():  # the access log is not the command an Idempotency-Key names
        await retry_on_conflict(attempt)


#: The dependency every route takes: the authorised caller.
Caller = Annotated[ApiClient, Depends(authorize)]


def acting(request: Request) -> Acting | None:
    """Who a self-service request acts as (None for staff)."""
    value: Acting | None = getattr(request.state, "acting", None)
    return value


def acting_for(request: Request) -> str | None:
    """The family holder acting for the person the request names, if one is (None when the
    citizen acts for themselves, and for staff)."""
    who = acting(request)
    return who.token.person_id if who is not None and who.on_behalf else None
