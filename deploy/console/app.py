"""The operator console's pages (see the package's docstring)."""

from __future__ import annotations

import asyncio
import html
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import structlog
from aiokafka.errors import KafkaError
from fastapi import Cookie, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import HTTPException as StarletteHTTPException

from deploy import dead_letters, health
from deploy.demo.journeys import person_timeline
from deploy.state import ServiceName, endpoints, infrastructure_urls, read_state
from shared.authority import OPERATOR_REASONS, is_person_id
from shared.settings import ApiClient, ServiceSettings

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
SESSION = "shebao_console"
#: A session ends after this long, and at most this many are kept (the oldest go first).
SESSION_TTL_S = 8 * 3600
MAX_SESSIONS = 1000
#: Wrong keys from one address: this many in a minute, then refused for the rest of it.
MAX_FAILURES_PER_MINUTE = 5
#: How long a page waits for Kafka before it says Kafka does not answer.
KAFKA_WAIT_S = 10
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # (no-referrer would make a form's Origin "null")
    "Cache-Control": "no-store",
}
log = structlog.get_logger()


@dataclass(frozen=True)
class Operator:
    """Who is signed in: their channel credential (sent to the services) and name."""

    key: str
    name: str
    since: float


@dataclass(frozen=True)
class ServiceFigures:
    """What one service's /metrics says about its spine."""

    service: str
    outbox_backlog: float | None
    oldest_unpublished_s: float | None
    relay_active: bool
    lag: float | None
    held: bool | None
    dead_letters: float | None


def create_console(settings: ServiceSettings) -> FastAPI:
    """The console app: operators sign in with their API key (role operator only)."""
    app = FastAPI(title="shebao operator console", docs_url=None, redoc_url=None)
    sessions: dict[str, Operator] = {}
    failures: dict[str, list[float]] = {}
    clients: Mapping[str, ApiClient] = settings.api_keys

    def signed_in(token: str | None) -> Operator | None:
        operator = sessions.get(token or "")
        if operator is not None and time.monotonic() - operator.since > SESSION_TTL_S:
            sessions.pop(token or "", None)
            return None
        return operator

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # A form posted from another origin (even another port of this host) is refused.
        if request.method == "POST" and not _same_origin(request):
            answer: Response = _page(403, "Refused: the form did not come from this console.")
        else:
            answer = await call_next(request)
        answer.headers.update(HEADERS)
        return answer

    @app.exception_handler(StarletteHTTPException)
    async def _unreadable(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _page(404, "There is no such page.")
        if signed_in(request.cookies.get(SESSION)) is None:
            return RedirectResponse("/login", status_code=303)
        # A form too large or not a form at all (Starlette refuses it before any route).
        return _page(exc.status_code, "The form could not be read (too large, or no form).")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _: RequestValidationError) -> Response:
        if signed_in(request.cookies.get(SESSION)) is None:
            return RedirectResponse("/login", status_code=303)
        return _page(422, "The form is not filled in as it should be (a reason is needed).")

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"refused": False})

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request, key: Annotated[str, Form(max_length=256)]) -> Response:
        address = request.client.host if request.client else ""
        now = time.monotonic()
        recent = [t for t in failures.get(address, []) if now - t < 60]
        if len(recent) >= MAX_FAILURES_PER_MINUTE:
            return _page(429, "Too many wrong keys: wait a minute.")
        client = clients.get(key)
        if client is None or client.role != "operator":
            failures[address] = [*recent, now]
            log.warning("console_sign_in_refused", address=address, failures=len(recent) + 1)
            context = {"refused": True}
            return TEMPLATES.TemplateResponse(request, "login.html", context, status_code=403)
        failures.pop(address, None)
        if len(sessions) >= MAX_SESSIONS:
            oldest = min(sessions, key=lambda t: sessions[t].since)
            sessions.pop(oldest)
        token = secrets.token_urlsafe(32)
        sessions[token] = Operator(key, client.name, now)
        log.info("console_signed_in", operator=client.name)
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(SESSION, token, httponly=True, samesite="strict")
        return answer

    @app.post("/logout")
    async def logout(shebao_console: Annotated[str | None, Cookie()] = None) -> Response:
        sessions.pop(shebao_console or "", None)
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(SESSION)
        return answer

    @app.get("/", response_class=HTMLResponse)
    async def overview(
        request: Request, shebao_console: Annotated[str | None, Cookie()] = None
    ) -> Response:
        operator = signed_in(shebao_console)
        if operator is None:
            return RedirectResponse("/login", status_code=303)
        parts = await asyncio.to_thread(health.parts, read_state())
        figures = await _figures()
        context = {"operator": operator, "parts": parts, "figures": figures}
        return TEMPLATES.TemplateResponse(request, "overview.html", context)

    @app.get("/dead-letters", response_class=HTMLResponse)
    async def parked(
        request: Request, shebao_console: Annotated[str | None, Cookie()] = None
    ) -> Response:
        operator = signed_in(shebao_console)
        if operator is None:
            return RedirectResponse("/login", status_code=303)
        _, bootstrap = infrastructure_urls()
        letters = []
        try:
            async with asyncio.timeout(KAFKA_WAIT_S):
                for group in ServiceName:
                    letters += await dead_letters.dead_letters(bootstrap, group.value)
        except (KafkaError, OSError, TimeoutError):
            return _page(503, "Kafka does not answer: the dead letters cannot be read now.")
        context = {"operator": operator, "letters": letters, "notice": None}
        return TEMPLATES.TemplateResponse(request, "dead_letters.html", context)

    @app.post("/dead-letters/{group}/{ref}", response_class=HTMLResponse)
    async def decide(
        request: Request,
        group: ServiceName,
        ref: str,
        action: Annotated[dead_letters.Action, Form()],
        reason: Annotated[str, Form(min_length=1, max_length=500)],
        shebao_console: Annotated[str | None, Cookie()] = None,
    ) -> Response:
        operator = signed_in(shebao_console)
        if operator is None:
            return RedirectResponse("/login", status_code=303)
        if not reason.strip():
            return _page(422, "Say why: the reason is kept with the decision. Nothing was decided.")
        _, bootstrap = infrastructure_urls()
        try:
            async with asyncio.timeout(KAFKA_WAIT_S):
                await dead_letters.decide(
                    bootstrap, group.value, ref, action, by=operator.name, note=reason
                )
        except dead_letters.DeadLetterError as exc:
            return _page(409, f"Refused: {exc}")
        except (KafkaError, OSError, TimeoutError):
            return _page(503, "Kafka does not answer: nothing was decided; try again.")
        return RedirectResponse("/dead-letters", status_code=303)

    @app.get("/persons", response_class=HTMLResponse)
    async def person(
        request: Request,
        person_id: str = "",
        reason: str = "CITIZEN_REQUEST",
        shebao_console: Annotated[str | None, Cookie()] = None,
    ) -> Response:
        operator = signed_in(shebao_console)
        if operator is None:
            return RedirectResponse("/login", status_code=303)
        entries: list[dict[str, Any]] = []
        silent: list[str] = []
        refused: list[str] = []
        problem = None
        if person_id and not is_person_id(person_id):
            problem = "That is not a person id (they look like 01a2…-…): nothing was read."
        elif person_id and reason not in OPERATOR_REASONS:
            problem = "Choose one of the reasons: nothing was read."
        elif person_id:
            headers = {"X-Api-Key": operator.key, "X-Access-Reason": reason}
            async with httpx.AsyncClient(timeout=30) as client:
                entries = await person_timeline(
                    client,
                    endpoints(),
                    person_id,
                    headers=headers,
                    unanswered=silent,
                    refused=refused,
                )
        context = {
            "operator": operator,
            "person_id": person_id,
            "reason": reason,
            "reasons": sorted(OPERATOR_REASONS),
            "entries": entries,
            "silent": silent,
            "refused": refused,
            "problem": problem,
        }
        return TEMPLATES.TemplateResponse(request, "person.html", context)

    return app


def _page(status: int, message: str) -> HTMLResponse:
    """A short page saying why, the message escaped."""
    text = html.escape(message)
    body = f"<!doctype html><title>shebao console</title><p>{text}</p><p><a href='/'>back</a></p>"
    return HTMLResponse(body, status_code=status)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin == own or origin.startswith(own + "/")


async def _figures() -> list[ServiceFigures]:
    async with httpx.AsyncClient(timeout=5, follow_redirects=True) as client:
        return list(
            await asyncio.gather(*(_figures_of(client, n, u) for n, u in endpoints().all().items()))
        )


async def _figures_of(client: httpx.AsyncClient, service: str, url: str) -> ServiceFigures:
    try:
        text = (await client.get(f"{url}/metrics")).text
    except httpx.HTTPError:
        return ServiceFigures(service, None, None, False, None, None, None)
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("service", labels.get("group")) not in (service, None):
                continue
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return ServiceFigures(
        service,
        values.get("shebao_outbox_backlog"),
        values.get("shebao_outbox_oldest_age_seconds"),
        values.get("shebao_relay_leader", 0) >= 1,
        values.get("shebao_consumer_lag"),
        values.get("shebao_consumer_held", 0) >= 1,
        values.get("shebao_dead_letters_total"),
    )
