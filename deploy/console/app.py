"""The operator console's pages (see the package's docstring)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Cookie, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from prometheus_client.parser import text_string_to_metric_families

from deploy import dead_letters, health
from deploy.demo.journeys import person_timeline
from deploy.state import ServiceName, endpoints, infrastructure_urls, read_state
from shared.authority import OPERATOR_REASONS
from shared.settings import ApiClient, ServiceSettings

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
SESSION = "shebao_console"


@dataclass(frozen=True)
class Operator:
    """Who is signed in: their channel credential (sent to the services) and name."""

    key: str
    name: str


@dataclass(frozen=True)
class ServiceFigures:
    """What one service's /metrics says about its spine."""

    service: str
    outbox_backlog: float | None
    oldest_unpublished_s: float | None
    relay_active: bool
    lag: float | None
    held: bool
    dead_letters: float | None


def create_console(settings: ServiceSettings) -> FastAPI:
    """The console app: operators sign in with their API key (role operator only)."""
    app = FastAPI(title="shebao operator console", docs_url=None, redoc_url=None)
    sessions: dict[str, Operator] = {}
    clients: Mapping[str, ApiClient] = settings.api_keys

    def signed_in(token: str | None) -> Operator | None:
        return sessions.get(token or "")

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"refused": False})

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request, key: Annotated[str, Form(max_length=256)]) -> Response:
        client = clients.get(key)
        if client is None or client.role != "operator":
            context = {"refused": True}
            return TEMPLATES.TemplateResponse(request, "login.html", context, status_code=403)
        token = secrets.token_urlsafe(32)
        sessions[token] = Operator(key, client.name)
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
        for group in ServiceName:
            letters += await dead_letters.dead_letters(bootstrap, group.value)
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
        _, bootstrap = infrastructure_urls()
        try:
            await dead_letters.decide(
                bootstrap, group.value, ref, action, by=operator.name, note=reason
            )
        except dead_letters.DeadLetterError as exc:
            return HTMLResponse(f"Refused: {exc}", status_code=409)
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
        if person_id and reason in OPERATOR_REASONS:
            headers = {"X-Api-Key": operator.key, "X-Access-Reason": reason}
            async with httpx.AsyncClient(timeout=30) as client:
                entries = await person_timeline(
                    client, endpoints(), person_id, headers=headers, unanswered=silent
                )
        context = {
            "operator": operator,
            "person_id": person_id,
            "reason": reason,
            "reasons": sorted(OPERATOR_REASONS),
            "entries": entries,
            "silent": silent,
        }
        return TEMPLATES.TemplateResponse(request, "person.html", context)

    return app


async def _figures() -> list[ServiceFigures]:
    async with httpx.AsyncClient(timeout=5, follow_redirects=True) as client:
        return list(
            await asyncio.gather(*(_figures_of(client, n, u) for n, u in endpoints().all().items()))
        )


async def _figures_of(client: httpx.AsyncClient, service: str, url: str) -> ServiceFigures:
    try:
        text = (await client.get(f"{url}/metrics")).text
    except httpx.HTTPError:
        return ServiceFigures(service, None, None, False, None, False, None)
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
