"""Request bodies at the edge: how large and how slow a body may be, and reading one as JSON
with the same refusals whoever reads it (a route, the policy looking for the person named)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: A command's JSON body is a few hundred bytes: a body larger than this is refused (413)
#: before it is read, and before the credential is looked at. Routes that take files say
#: their own limit (``install_edges``'s ``large_bodies``).
MAX_BODY_BYTES = 1024 * 1024
#: A body that stops arriving for this long is given up (408): the connection is not held.
BODY_TIMEOUT_S = 10.0


class BodyRefusedError(HTTPException):
    """The body cannot be taken (too large, too slow, not JSON): the edges' error handler
    answers it with its code (an HTTPException, so FastAPI passes it on as it is)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, detail=(code, message))
        self.code = code
        self.message = message


def _too_large(limit: int) -> BodyRefusedError:
    return BodyRefusedError(
        413, "BODY_TOO_LARGE", f"A request body of at most {limit} bytes is taken here."
    )


class BodyLimitMiddleware:
    """Refuses a body over its route's limit: at once when Content-Length says so, else as
    soon as more has arrived; and a body that stops arriving. Nothing more is read then."""

    def __init__(self, app: ASGIApp, large_bodies: Mapping[str, int]) -> None:
        self.app = app
        self.large_bodies = large_bodies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large_bodies.get(scope["path"], MAX_BODY_BYTES)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, _too_large(limit))
            return
        received = 0
        complete = False
        started = False

        async def limited() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is waiting for a disconnect
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
            except TimeoutError:
                raise BodyRefusedError(
                    408, "BODY_TIMEOUT", "The request body stopped arriving."
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit:
                    raise _too_large(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except BodyRefusedError as refused:
            # Raised where no handler turned it into an answer (a middleware reading first).
            if started:
                raise
            await self._refuse(scope, receive, send, refused)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyRefusedError) -> None:
        # The shape of every refusal (shared.http.ErrorBody); the client is told to stop
        # sending: the connection is closed after the answer.
        answer = JSONResponse(
            {"code": exc.code, "message": exc.message, "details": []},
            status_code=exc.status_code,
            headers={"Connection": "close"},
        )
        await answer(scope, receive, send)


async def json_body(request: Request) -> Any:
    """The request's body read as JSON, refused as a route's own body would be: 422 when
    there is none, 415 when it is not sent as JSON, 400 when it is not UTF-8 or not JSON."""
    body = await request.body()
    if not body:
        raise BodyRefusedError(422, "INVALID_REQUEST", "The request has no body.")
    if not is_json(request.headers):
        raise BodyRefusedError(415, *JSON_EXPECTED)
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BodyRefusedError(
            400, "BODY_NOT_UTF8", "The request body is not UTF-8 text."
        ) from None
    except ValueError:
        raise BodyRefusedError(
            400, "BODY_UNREADABLE", "The request body could not be read as JSON."
        ) from None


def is_json(headers: Headers) -> bool:
    """Whether the body is sent as JSON (FastAPI reads no other body as JSON)."""
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


#: 415: the route takes JSON, and the body was sent as something else.
JSON_EXPECTED = ("JSON_EXPECTED", "Send the body as JSON (Content-Type: application/json).")
