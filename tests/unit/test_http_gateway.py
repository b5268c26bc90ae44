"""The HTTP gateway's answers to what a real SMS gateway or push webhook can do, against
small servers on loopback: each outcome is delivered, transient or final, with a reason that
names a status, never what the gateway echoed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from deploy.paths import free_port
from services.notification.channels import DeliveryError, HttpGateway, Outgoing, gateway_session

MESSAGE = Outgoing("n-1", "+8613800000000", "社保卡", "您的社保卡已寄出", "zh-Hans")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/sms", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/sms"
    finally:
        await runner.cleanup()


async def send(url: str, timeout_s: float = 5.0) -> str:
    session = gateway_session(timeout_s)
    try:
        return await HttpGateway("sms", url, "secret", session).send(MESSAGE)
    finally:
        await session.close()


async def test_accepted_message_returns_the_gateways_reference() -> None:
    seen: list[tuple[web.Request, dict[str, str]]] = []

    async def accept(request: web.Request) -> web.Response:
        seen.append((request, await request.json()))
        return web.json_response({"id": "gw-42"})

    async for url in serve(accept):
        assert await send(url) == "gw-42"
    [(request, body)] = seen
    assert request.headers["Idempotency-Key"] == "n-1"
    assert request.headers["Authorization"] == "Bearer secret"
    assert body == {
        "to": MESSAGE.to,
        "message_id": "n-1",
        "subject": MESSAGE.subject,
        "text": MESSAGE.body,
        "language": "zh-Hans",
    }


async def test_accepted_without_a_json_answer_has_no_reference() -> None:
    async def plain(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    async for url in serve(plain):
        assert await send(url) == ""


@pytest.mark.parametrize(
    ("status", "reason", "transient"),
    [
        (503, "GATEWAY_HTTP_503", True),
        (429, "GATEWAY_HTTP_429", True),
        (400, "GATEWAY_REFUSED_HTTP_400", False),
        (401, "GATEWAY_REFUSED_HTTP_401", False),
    ],
)
async def test_refusals_name_the_status_only(status: int, reason: str, transient: bool) -> None:
    async def refuse(_: web.Request) -> web.Response:
        return web.json_response({"error": f"bad number {MESSAGE.to}"}, status=status)

    async for url in serve(refuse):
        with pytest.raises(DeliveryError) as caught:
            await send(url)
    assert (caught.value.reason, caught.value.transient) == (reason, transient)
    assert MESSAGE.to not in str(caught.value)


async def test_a_gateway_that_does_not_answer_in_time_is_transient() -> None:
    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response()

    async for url in serve(hang):
        with pytest.raises(DeliveryError) as caught:
            await send(url, timeout_s=0.2)
    assert (caught.value.reason, caught.value.transient) == ("GATEWAY_TIMEOUT", True)


async def test_an_unreachable_gateway_is_transient() -> None:
    with pytest.raises(DeliveryError) as caught:
        await send(f"http://127.0.0.1:{free_port()}/sms")
    assert caught.value.transient
    assert caught.value.reason.startswith("GATEWAY_UNREACHABLE ")
