"""The demo's client (``shebao demo``, the load and cluster tests drive the platform with it):
a lost answer is retried under the same Idempotency-Key, an answer that says an event has not
arrived yet is asked again under a new one (the platform keeps and replays that answer for its
key, as it keeps every answer)."""

from __future__ import annotations

import time

import httpx

from deploy.demo.journeys import _call

URL = "http://activation.test/v1/activations"


class KeyedService:
    """A service that keeps the first answer per Idempotency-Key and replays it, and that
    answers ``not_yet`` until its event has arrived (after ``arrives_after`` new keys)."""

    def __init__(self, not_yet: str, arrives_after: int, unavailable_first: int = 0) -> None:
        self.not_yet = not_yet
        self.arrives_after = arrives_after
        self.unavailable = unavailable_first
        self.kept: dict[str, httpx.Response] = {}
        self.tries: list[str] = []

    async def send(self, key: str) -> httpx.Response:
        self.tries.append(key)
        request = httpx.Request("POST", URL)
        if self.unavailable:
            self.unavailable -= 1
            return httpx.Response(
                503, json={"code": "UNAVAILABLE"}, headers={"Retry-After": "0"}, request=request
            )
        if key not in self.kept:
            if len(self.kept) < self.arrives_after:
                answer = httpx.Response(409, json={"code": self.not_yet}, request=request)
            else:
                answer = httpx.Response(201, json={"card_id": "c1"}, request=request)
            self.kept[key] = answer
        return self.kept[key]


async def test_a_not_yet_answer_is_asked_again_under_a_new_key() -> None:
    service = KeyedService("IDENTITY_NOT_VERIFIED", arrives_after=3)
    answer = await _call(
        service.send,
        retry_codes=frozenset({"IDENTITY_NOT_VERIFIED"}),
        deadline=time.monotonic() + 10,
    )
    assert answer == {"card_id": "c1"}
    assert len(set(service.tries)) == 4  # three refusals kept under three keys, then success


async def test_a_lost_answer_is_retried_under_the_same_key() -> None:
    service = KeyedService("IDENTITY_NOT_VERIFIED", arrives_after=0, unavailable_first=2)
    answer = await _call(service.send, deadline=time.monotonic() + 10)
    assert answer == {"card_id": "c1"}
    assert len(service.tries) == 3
    assert len(set(service.tries)) == 1
