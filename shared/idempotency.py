"""``Idempotency-Key`` on every command: the first answer is kept and replayed, so a client
whose answer was lost (a timeout, a crash, a cut connection) retries without doing it twice.

A key is scoped to the caller's credentials (API key, citizen token, family grant) and the
route: nobody else's retry can read an answer. The same key with another query or body is
refused. The transaction that stores the command's events also marks the key as used by this
attempt (:func:`mark_committed`), so at most one attempt ever takes effect, however retries
race.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.batching import Coalescer
from shared.claims import Claim, IdempotencyKeyInUse, _current
from shared.db import UNAVAILABLE

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
COMMANDS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Printable ASCII, no spaces: a UUID is the recommended key.
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
#: An attempt that has neither committed nor answered after this long died with its process:
#: a retry takes the key over (if the old attempt still commits, it fails: see mark_committed).
STALE_AFTER_S = 10
#: How long an answer is kept for replay.
KEPT_FOR_S = 24 * 3600
PURGE_EVERY_S = 60.0
#: Answers never kept: they say to try again (401 and 403 are about the credentials, not the
#: request: a stranger's calls leave nothing behind).
RETRYABLE_STATUS = frozenset({401, 403, 408, 425, 429})
_SCOPE_HEADERS = (b"x-api-key", b"authorization", b"x-family-grant")


def _error(
    status: int,
    code: str,
    message: str,
    retry_after: int | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Message:
    body = json.dumps({"code": code, "message": message, "details": details or []}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    return {"status": status, "headers": headers, "body": body}


def _request_hash(query: bytes, body: bytes) -> bytes:
    """The request's fingerprint: its query string and its JSON, whatever the spacing and key
    order (a client may encode a retried body afresh), or its bytes when it is not JSON. The
    same key with another query or body is a reuse, refused."""
    try:
        content = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        content = body
    return hashlib.sha256(query + b"\0" + content).digest()


def _scope_of(scope: Scope) -> bytes:
    headers = dict(scope["headers"])
    parts = [scope["method"], scope["path"]]
    parts += [headers.get(name, b"").decode("latin-1") for name in _SCOPE_HEADERS]
    return hashlib.sha256(json.dumps(parts).encode()).digest()


class IdempotencyMiddleware:
    """ASGI middleware: claims the key, runs the command, keeps its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._purged_at = 0.0
        self._writes: _Writes | None = None

    def _writes_on(self, pool: asyncpg.Pool) -> _Writes:
        if self._writes is None or self._writes.pool is not pool:
            self._writes = _Writes(pool)
        return self._writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in COMMANDS:
            await self.app(scope, receive, send)
            return
        sent = [v for k, v in scope["headers"] if k == HEADER.lower().encode()]
        if not sent:
            await self.app(scope, receive, send)
            return
        key = sent[0].decode("latin-1")
        if len(set(sent)) > 1 or not KEY_PATTERN.fullmatch(key):
            await _send(send, _error(400, "IDEMPOTENCY_KEY_INVALID", _INVALID))
            return
        body, more = await _read_body(receive)
        pool: asyncpg.Pool = scope["app"].state.runtime.pool
        claim = Claim(_scope_of(scope), key, uuid.uuid4())
        try:
            await self._purge(pool)
            refusal = await _claim(
                self._writes_on(pool), claim, _request_hash(scope.get("query_string", b""), body)
            )
        except UNAVAILABLE as exc:
            log.warning("dependency_unavailable", error=type(exc).__name__)
            refusal = _error(503, "SERVICE_UNAVAILABLE", "Try again in a moment.", retry_after=2)
        if refusal is not None:
            await _send(send, refusal)
            return
        await self._run(scope, _replay_body(body, more), send, pool, claim)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, pool: asyncpg.Pool, claim: Claim
    ) -> None:
        answer: dict[str, Any] = {"body": b""}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["start"] = message
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
            else:
                await send(message)

        token = _current.set(claim)
        try:
            await self.app(scope, receive, keep)
        except BaseException:
            await _release(pool, claim)
            raise
        finally:
            _current.reset(token)
        start = answer["start"]
        await _keep(self._writes_on(pool), claim, start, answer["body"])
        await send(start)
        await send({"type": "http.response.body", "body": answer["body"]})

    async def _purge(self, pool: asyncpg.Pool) -> None:
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        await pool.execute(
            "DELETE FROM idempotency_keys WHERE claimed_at < now() - make_interval(secs => $1)",
            float(KEPT_FOR_S),
        )


_INVALID = (
    "Idempotency-Key must be one key of 1 to 255 visible ASCII characters, no spaces"
    " (a UUID is best)."
)


async def _claim(writes: _Writes, claim: Claim, request_hash: bytes) -> Message | None:
    """Hold the key for this attempt, or the answer to give instead of running it."""
    if await writes.claim((claim.scope, claim.key, request_hash, claim.attempt)):
        return None
    pool = writes.pool
    row = await pool.fetchrow(
        "SELECT request_hash, attempt, committed_at, status, content_type, body, events,"
        " claimed_at < now() - make_interval(secs => $3) AS stale"
        " FROM idempotency_keys WHERE scope = $1 AND key = $2",
        claim.scope,
        claim.key,
        float(STALE_AFTER_S),
    )
    if row is None:  # expired and purged in between: claim it afresh
        return await _claim(writes, claim, request_hash)
    if row["request_hash"] != request_hash:
        return _error(422, "IDEMPOTENCY_KEY_REUSED", _REUSED)
    if row["status"] is not None:
        return _replay(row["status"], row["content_type"], row["body"])
    if row["committed_at"] is not None and row["stale"]:
        return _error(409, "IDEMPOTENCY_ANSWER_LOST", _LOST, details=json.loads(row["events"]))
    if row["stale"] and row["committed_at"] is None:
        taken = await pool.fetchval(
            "UPDATE idempotency_keys SET attempt = $3, claimed_at = now()"
            " WHERE scope = $1 AND key = $2 AND attempt = $4 AND committed_at IS NULL"
            " RETURNING true",
            claim.scope,
            claim.key,
            claim.attempt,
            row["attempt"],
        )
        if taken:
            return None
    return _error(409, IdempotencyKeyInUse.code, IdempotencyKeyInUse.message, retry_after=1)


_REUSED = "This Idempotency-Key was used for another request; use a new key for a new request."
_LOST = (
    "A request with this Idempotency-Key was carried out, but its answer was lost in a fault;"
    " the events it recorded are in details: read the current state instead of repeating it."
)


def _replay(status: int, content_type: str | None, body: bytes) -> Message:
    headers = [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    return {"status": status, "headers": headers, "body": body}


def _kept(status: int, committed: bool) -> bool:
    """Whether an answer is kept for replay. A success is. A refusal is kept only when it was
    recorded (a failed face check counts towards a lock once, however often it is retried);
    one that changed nothing is not: running it again is harmless, and a "not yet" (the card
    is not delivered yet) may be a yes on the next try."""
    if status < 300:
        return True
    if status >= 500 or status in RETRYABLE_STATUS:
        return False
    return committed


async def _keep(writes: _Writes, claim: Claim, start: Message, body: bytes) -> None:
    """Store the answer before the client sees it; or let the key go if it is not kept."""
    if not _kept(start["status"], claim.committed):
        await _release(writes.pool, claim)
        return
    content_type = dict(start.get("headers", [])).get(b"content-type", b"").decode("latin-1")
    try:
        await writes.keep(
            (claim.scope, claim.key, claim.attempt, start["status"], content_type or None, body)
        )
    except UNAVAILABLE as exc:
        # The answer still goes out; a retry is told the answer was lost, not run again.
        log.warning("idempotent_answer_not_kept", error=type(exc).__name__)


#: Concurrent requests' claims, one statement (and one commit) for many: a key already held
#: is left alone (a key twice in one batch: the first row holds it), and the attempts that
#: now hold theirs come back.
_CLAIMS = (
    "INSERT INTO idempotency_keys (scope, key, request_hash, attempt)"
    " SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::uuid[])"
    " ON CONFLICT (scope, key) DO NOTHING RETURNING attempt"
)
#: Concurrent requests' answers kept, one statement for many.
_ANSWERS = (
    "UPDATE idempotency_keys k SET status = m.status, content_type = m.content_type,"
    " body = m.body FROM unnest($1::bytea[], $2::text[], $3::uuid[], $4::int[], $5::text[],"
    " $6::bytea[]) AS m(scope, key, attempt, status, content_type, body)"
    " WHERE k.scope = m.scope AND k.key = m.key AND k.attempt = m.attempt"
)
#: Statements of each kind in flight at once (each holds a pooled connection while it runs).
RUNNING = 2
_Claimed = tuple[bytes, str, bytes, uuid.UUID]
_Answer = tuple[bytes, str, uuid.UUID, int, str | None, bytes]


class _Writes:
    """The claims and kept answers of concurrent requests, each kind sent together
    (``shared.batching.Coalescer``): two commits per command would otherwise cost more than
    the command's own, which it shares with others (``shared.groupcommit``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.claim: Coalescer[_Claimed, bool] = Coalescer(self._claims, max_running=RUNNING)
        self.keep: Coalescer[_Answer, None] = Coalescer(self._answers, max_running=RUNNING)

    async def _claims(self, rows: list[_Claimed]) -> list[bool]:
        held = await self.pool.fetch(_CLAIMS, *_columns(rows))
        attempts = {r["attempt"] for r in held}
        return [attempt in attempts for *_, attempt in rows]

    async def _answers(self, rows: list[_Answer]) -> list[None]:
        await self.pool.execute(_ANSWERS, *_columns(rows))
        return [None] * len(rows)


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


async def _release(pool: asyncpg.Pool, claim: Claim) -> None:
    """Let the key go, unless this attempt took effect."""
    with contextlib.suppress(*UNAVAILABLE):
        await pool.execute(
            "DELETE FROM idempotency_keys"
            " WHERE scope = $1 AND key = $2 AND attempt = $3 AND committed_at IS NULL",
            claim.scope,
            claim.key,
            claim.attempt,
        )


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole request body, and any message that came after it (a disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


def _replay_body(body: bytes, after: list[Message]) -> Receive:
    queue: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *after]

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        return {"type": "http.disconnect"}

    return receive


async def _send(send: Send, answer: Message) -> None:
    await send(
        {"type": "http.response.start", "status": answer["status"], "headers": answer["headers"]}
    )
    await send({"type": "http.response.body", "body": answer["body"]})


def document_idempotency(app: FastAPI) -> None:
    """Every command operation of the OpenAPI document takes the optional header."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                if method.upper() in COMMANDS:
                    operation.setdefault("parameters", []).append(_PARAMETER)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "A key of the client's choosing (a UUID) that makes a retry safe: the first answer to"
        " this key, caller and route is kept for 24 h and replayed (with"
        " `Idempotent-Replayed: true`); the same key with another body is refused"
        " (422 IDEMPOTENCY_KEY_REUSED); while the first is running, 409 IDEMPOTENCY_KEY_IN_USE."
        " A refusal that changed nothing is not kept: the next try is decided afresh."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
