"""A small local SMS / push / email sink, so the stack delivers with no outside service.

It speaks the protocols the notification service speaks to real gateways: ``POST /sms`` and
``POST /push`` (JSON, bearer credential, Idempotency-Key honoured) and SMTP. It keeps what it
received in memory and shows it (``GET /messages``, ``shebao notifications sent``). Tests
make it misbehave on purpose with ``POST /faults``.
"""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
import typer
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, Header, HTTPException
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

Kind = Literal["sms", "push", "email"]


class Inbound(BaseModel):
    """What a gateway is asked to deliver."""

    to: str = Field(min_length=1)
    message_id: str = Field(min_length=1)
    subject: str = ""
    text: str = Field(min_length=1)
    language: str = "zh-Hans"


class Fault(BaseModel):
    """Fail the next ``fail_next`` requests of a kind with ``status`` (HTTP) or 451 (SMTP)."""

    kind: Kind
    fail_next: int = Field(ge=0)
    status: int = Field(503, ge=400, le=599)


class Sink:
    """The received messages and the faults still to inject (thread-safe: SMTP runs in a
    thread of its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered: list[dict[str, Any]] = []
        self._by_key: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: dict[str, int] = {"sms": 0, "push": 0, "email": 0}
        self.duplicates: dict[str, int] = {"sms": 0, "push": 0, "email": 0}
        self.faults: dict[str, tuple[int, int]] = {}

    def take_fault(self, kind: str) -> int | None:
        """The status to fail this request with, if a fault is pending."""
        with self._lock:
            self.requests[kind] += 1
            count, status = self.faults.get(kind, (0, 0))
            if count <= 0:
                return None
            self.faults[kind] = (count - 1, status)
            return status

    def deliver(
        self,
        kind: str,
        message: Inbound,
        idempotency_key: str | None,
        traceparent: str | None = None,
    ) -> dict[str, Any]:
        """Keep a message, once per idempotency key (HTTP kinds), with the trace it is in."""
        with self._lock:
            seen = self._by_key.get((kind, idempotency_key or ""))
            if idempotency_key is not None and seen is not None:
                self.duplicates[kind] += 1
                return {**seen, "duplicate": True}
            record = {
                "id": f"{kind}-{len(self.delivered) + 1}",
                "kind": kind,
                "idempotency_key": idempotency_key,
                "traceparent": traceparent,
                "received_at": datetime.now(UTC).isoformat(),
                **message.model_dump(),
            }
            self.delivered.append(record)
            if idempotency_key is not None:
                self._by_key[(kind, idempotency_key)] = record
            return {**record, "duplicate": False}

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self.delivered.clear()
            self._by_key.clear()
            self.faults.clear()
            for kind in self.requests:
                self.requests[kind] = 0
                self.duplicates[kind] = 0


class SmtpHandler:
    """aiosmtpd handler keeping each email (or refusing it with 451 while a fault is set)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.take_fault("email") is not None:
            return "451 4.3.0 Try again later"
        raw = envelope.original_content or b""
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        body = mail.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        for rcpt in envelope.rcpt_tos:
            self.sink.deliver(
                "email",
                Inbound(
                    to=rcpt,
                    message_id=str(mail.get("Message-ID", "")).strip("<>") or "-",
                    subject=str(mail.get("Subject", "")),
                    text=text.strip() or "-",
                    language=str(mail.get("Content-Language", "")),
                ),
                None,
            )
        return "250 OK"


class SinkClient:
    """A running sink, read and steered over HTTP (the CLI and the tests use it)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def messages(self, kind: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        """What it received, oldest first."""
        params = {k: v for k, v in (("kind", kind), ("to", to)) if v is not None}
        response = httpx.get(f"{self.url}/messages", params=params, timeout=10)
        response.raise_for_status()
        return list(response.json())

    def stats(self) -> dict[str, Any]:
        """Requests and duplicates per kind."""
        return dict(httpx.get(f"{self.url}/stats", timeout=10).json())

    def fail_next(self, kind: str, count: int, status: int = 503) -> None:
        """Make the next ``count`` requests of a kind fail."""
        body = {"kind": kind, "fail_next": count, "status": status}
        httpx.post(f"{self.url}/faults", json=body, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Forget what was received and every pending fault."""
        httpx.delete(f"{self.url}/messages", timeout=10).raise_for_status()


def create_app(sink: Sink, api_key: str = "") -> FastAPI:
    """The sink's HTTP side."""
    app = FastAPIOffline(title="shebao local delivery sink")

    def receive(
        kind: Kind,
        message: Inbound,
        authorization: str | None,
        key: str | None,
        traceparent: str | None,
    ) -> dict[str, Any]:
        if api_key and authorization != f"Bearer {api_key}":
            raise HTTPException(401, "bad gateway credential")
        status = sink.take_fault(kind)
        if status is not None:
            raise HTTPException(status, "injected fault")
        return sink.deliver(kind, message, key, traceparent)

    def gateway(kind: Literal["sms", "push"]) -> None:
        @app.post(f"/{kind}", name=kind)
        async def receive_http(
            message: Inbound,
            authorization: Annotated[str | None, Header()] = None,
            idempotency_key: Annotated[str | None, Header()] = None,
            traceparent: Annotated[str | None, Header()] = None,
        ) -> dict[str, Any]:
            return receive(kind, message, authorization, idempotency_key, traceparent)

    gateway("sms")
    gateway("push")

    @app.get("/messages")
    async def messages(kind: Kind | None = None, to: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in list(sink.delivered)
            if (kind is None or m["kind"] == kind) and (to is None or m["to"] == to)
        ]

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return {"requests": sink.requests, "duplicates": sink.duplicates}

    @app.post("/faults")
    async def faults(fault: Fault) -> dict[str, Any]:
        sink.faults[fault.kind] = (fault.fail_next, fault.status)
        return fault.model_dump()

    @app.delete("/messages")
    async def reset() -> dict[str, str]:
        sink.reset()
        return {"status": "reset"}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main(
    port: Annotated[int, typer.Option(help="HTTP port (SMS and push).")] = 8025,
    smtp_port: Annotated[int, typer.Option(help="SMTP port (email).")] = 2525,
    api_key: Annotated[str, typer.Option(envvar="SINK_API_KEY", help="Bearer credential.")] = "",
    host: Annotated[str, typer.Option(envvar="SINK_HOST", help="Interface to listen on.")] = (
        "127.0.0.1"
    ),
) -> None:
    """Run the sink (on loopback unless told otherwise) until stopped."""
    sink = Sink()
    smtp = Controller(SmtpHandler(sink), hostname=host, port=smtp_port)
    smtp.start()
    try:
        uvicorn.run(create_app(sink, api_key), host=host, port=port, log_level="warning")
    finally:
        smtp.stop()


if __name__ == "__main__":
    typer.run(main)
