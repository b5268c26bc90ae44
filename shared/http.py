"""What every service's HTTP edge shares: auth by channel credential, errors, health, metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram, make_asgi_app
from pydantic import BaseModel, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared import tracing
from shared.bodies import JSON_EXPECTED, BodyLimitMiddleware, is_json
from shared.claims import IdempotencyKeyInUse
from shared.db import UNAVAILABLE
from shared.envelope import new_event_id
from shared.errors import DomainError
from shared.eventstore import Causation, ConcurrencyError
from shared.idempotency import IdempotencyMiddleware
from shared.settings import ApiClient

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "X-Correlation-Id"
#: The committed AsyncAPI document (shared/contracts/export.py writes it from the code).
ASYNCAPI = Path(__file__).parent / "contracts" / "schemas" / "asyncapi.json"
#: A caller's correlation id is kept when it is 1-128 printable ASCII characters, else replaced.
CORRELATION_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")

REQUESTS = Counter(
    "shebao_http_requests_total", "HTTP requests", ["service", "route", "method", "status"]
)
LATENCY = Histogram("shebao_http_request_seconds", "HTTP request latency", ["service", "route"])


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: a stable reason code and a message a clerk can read aloud."""

    code: str = Field(description="Stable reason code, e.g. ID_NUMBER_CHECKSUM.")
    message: str = Field(description="Human-readable explanation, free of personal data.")
    details: list[dict[str, Any]] = Field(default_factory=list, description="Fields at fault.")


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSON error answer."""
    body = ErrorBody(code=code, message=message, details=extra.get("details", []))
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


#: Seconds a client should wait before retrying when a dependency is away.
RETRY_AFTER_S = 2


def unavailable_response(
    code: str = "SERVICE_UNAVAILABLE", message: str = "Try again in a moment.", **extra: Any
) -> JSONResponse:
    """503 with Retry-After: the platform cannot answer now, the same request may be retried."""
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    return error_response(503, code, message, headers=headers, **extra)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 401, 403, 404, 409, 422, 503)
}


def request_causation(request: Request) -> Causation:
    """Events caused by this request: its correlation id, and the caller and channel."""
    correlation_id: str = request.state.correlation_id
    caller: ApiClient | None = getattr(request.state, "caller", None)
    # A family holder signed in and acting for a member (shared.authority.Acting).
    acting = getattr(request.state, "acting", None)
    holder = acting.token.person_id if acting is not None and acting.on_behalf else None
    return Causation(
        correlation_id,
        correlation_id,
        actor=caller.name if caller else None,
        channel=caller.role if caller else None,
        acting_person_id=holder,
    )


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's C parser (httptools), answering a request that is no valid HTTP (a control
    character in a header, a broken request line) in the standard error shape, with a
    correlation id, instead of uvicorn's plain text."""

    def send_400_response(self, msg: str) -> None:
        """The 400 of a malformed request; the connection is closed after it."""
        body = ErrorBody(
            code="REQUEST_MALFORMED",
            message="The request is not valid HTTP (a header or the request line is malformed).",
        )
        content = body.model_dump_json().encode()
        head = (
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            + f"{CORRELATION_HEADER}: {new_event_id()}\r\n".encode()
            + f"content-length: {len(content)}\r\nconnection: close\r\n\r\n".encode()
        )
        self.transport.write(head + content)
        self.transport.close()


class CorrelationMiddleware:
    """ASGI middleware (not Starlette's BaseHTTPMiddleware, which streams every answer through
    a task and a queue): binds the request's correlation id to its logs and events, runs it in a
    span continuing the caller's trace, answers both, and counts the request in the metrics."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get(CORRELATION_HEADER, "")
        # Kept only when it is a plain token: it goes into every event the request causes.
        correlation_id = given if CORRELATION_PATTERN.fullmatch(given) else str(new_event_id())
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        started = time.perf_counter()
        method = scope["method"]
        # The request's span continues the caller's trace (a traceparent header), if any.
        # (Two traceparent headers are no trace context at all, as W3C says: a new trace.)
        one = len(headers.getlist(tracing.TRACEPARENT)) <= 1
        status = 500
        with tracing.span(
            method, SpanKind.SERVER, tracing.parent_of(headers if one else {})
        ) as span:
            answer = tracing.of_span(span)

            async def answered(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    more = MutableHeaders(scope=message)
                    more[CORRELATION_HEADER] = correlation_id
                    if answer is not None:
                        more[tracing.TRACERESPONSE] = answer
                await send(message)

            try:
                await self.app(scope, receive, answered)
            finally:
                structlog.contextvars.unbind_contextvars("correlation_id", "caller")
                path = getattr(scope.get("route"), "path", "unmatched")
                span.update_name(f"{method} {path}")
                span.set_attributes({"http.route": path, "http.response.status_code": status})
                REQUESTS.labels(self.service, path, method, status).inc()
                LATENCY.labels(self.service, path).observe(time.perf_counter() - started)


def install_edges(
    app: FastAPI,
    service: str,
    status_of: Callable[[DomainError], int],
    large_bodies: Mapping[str, int] | None = None,
) -> None:
    """Error handlers, body limits (``large_bodies``: a path -> its larger limit),
    Idempotency-Key, correlation ids, request metrics, /health, /ready and /metrics."""
    app.add_middleware(IdempotencyMiddleware)  # inside the body limit and correlation below
    app.add_middleware(BodyLimitMiddleware, large_bodies=large_bodies or {})

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(status_of(exc), exc.code, exc.message)

    # Starlette's own (FastAPI raises it for a body it cannot parse), FastAPI's included.
    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.detail, tuple):
            code, message = exc.detail
        elif exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            code, message = "BODY_NOT_UTF8", "The request body is not UTF-8 text."
        elif exc.status_code == 400:
            code, message = "BODY_UNREADABLE", "The request body could not be read as JSON."
        else:
            code, message = f"HTTP_{exc.status_code}", str(exc.detail)
        return error_response(exc.status_code, code, message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            # The body is no JSON at all: the same answer whatever the route.
            try:
                (await request.body()).decode("utf-8")
            except UnicodeDecodeError:
                return error_response(400, "BODY_NOT_UTF8", "The request body is not UTF-8 text.")
            return error_response(
                400, "BODY_UNREADABLE", "The request body could not be read as JSON."
            )
        if not is_json(request.headers) and any(
            tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing"
            for e in exc.errors()
        ):
            # A body sent as text, a form, XML: FastAPI did not read it as JSON.
            return error_response(415, *JSON_EXPECTED)
        # Never echo the input: it may be an ID number or a name.
        details = [
            {"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        return error_response(
            422, "INVALID_REQUEST", "The request is malformed; see details.", details=details
        )

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.UntranslatableCharacterError)
    async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL stores no NUL character in text: the transaction is rolled back whole.
        log.info("text_refused", error=type(exc).__name__)
        return error_response(
            422, "TEXT_INVALID", "A text in the request holds a character that cannot be stored."
        )

    @app.exception_handler(UnicodeEncodeError)
    async def _unencodable(_: Request, exc: Exception) -> JSONResponse:
        # A lone surrogate (JSON "\ud800") parses but is no character: it cannot be hashed,
        # stored or compared. Nothing was changed.
        log.info("text_refused", error=type(exc).__name__)
        return error_response(
            422, "TEXT_INVALID", "A text in the request holds a character that is not valid."
        )

    @app.exception_handler(IdempotencyKeyInUse)
    async def _key_in_use(_: Request, exc: IdempotencyKeyInUse) -> JSONResponse:
        headers = {"Retry-After": "1"}
        return error_response(409, exc.code, exc.message, headers=headers)

    @app.exception_handler(ConcurrencyError)
    async def _conflict(_: Request, exc: ConcurrencyError) -> JSONResponse:
        return error_response(
            409, exc.code, "Someone else changed this record at the same time; try again."
        )

    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        # Nothing was changed that will not be rolled back; the caller may retry.
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return unavailable_response()

    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A defect. The standard shape still, and no text of the exception (it may hold input).
        log.error("unexpected_error", error=type(exc).__name__, exc_info=exc)
        return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")

    app.add_middleware(CorrelationMiddleware, service=service)

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get(
        "/ready",
        tags=["operations"],
        summary="Readiness: database and Kafka reachable",
        responses={503: {"model": ErrorBody}},
    )
    async def ready(request: Request) -> Any:
        checks = await request.app.state.runtime.readiness()
        if all(checks.values()):
            return {"status": "ready", "service": service, "checks": checks}
        return unavailable_response("NOT_READY", "Not ready yet.", details=[checks])

    @app.get(
        "/asyncapi.json",
        tags=["operations"],
        summary="The AsyncAPI document of the platform's events (what integrators read)",
    )
    async def asyncapi() -> Response:
        return Response(ASYNCAPI.read_bytes(), media_type="application/json")

    app.mount("/metrics", make_asgi_app())
