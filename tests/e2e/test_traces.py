"""One citizen's request is one trace across the platform: the W3C trace context a channel
sends with its request travels in the headers of the events it causes, through the consumers
that apply them, to the message the notification service sends (the gateway receives it too)
and the event recording that send."""

from __future__ import annotations

import secrets

import httpx

from deploy.demo.sink import SinkClient
from deploy.stack import Infrastructure, ServiceProcess
from shared.topics import EVENTS_TOPIC
from tests.e2e.harness import Record, choose_sms, envelope_of, read_records, receive_sms_code
from tests.e2e.paying import Paying


def trace_of(record: Record) -> str | None:
    """The traceparent header of a record."""
    value = dict(record.headers or ()).get("traceparent")
    return value.decode() if value is not None else None


def trace_id(traceparent: str | None) -> str | None:
    return traceparent.split("-")[1] if traceparent else None


def span_id(traceparent: str | None) -> str | None:
    return traceparent.split("-")[2] if traceparent else None


async def test_an_sms_code_request_is_one_trace_to_the_gateway_and_back(
    services: dict[str, ServiceProcess], infra: Infrastructure
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        holder = await Paying(client, services).ready(411)
        app = holder.api.headers("dev-citizen-app", holder.person_id)
        await choose_sms(client, services["notification"].url, holder.person_id, holder.phone, app)
        trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
        caller = f"00-{trace}-{caller_span}-01"  # a channel that records its traces
        await receive_sms_code(
            client, services, holder.person_id, holder.phone, {**app, "traceparent": caller}
        )
    [sms] = [
        m
        for m in SinkClient(services["sink"].url).messages("sms", to=holder.phone)
        if trace_id(m["traceparent"]) == trace
    ]
    # The gateway is called from a span of its own, in the caller's trace, still recorded.
    assert span_id(sms["traceparent"]) != caller_span
    assert int(sms["traceparent"].rsplit("-", 1)[1], 16) & 1 == 1

    def in_trace(record: Record) -> bool:
        return record.key == holder.person_id.encode() and trace_id(trace_of(record)) == trace

    def told(records: list[Record]) -> bool:
        return "NotificationSent" in {envelope_of(r).event_type for r in records}

    records = await read_records(
        infra.bootstrap_servers,
        [EVENTS_TOPIC["activation"], EVENTS_TOPIC["notification"]],
        keep=in_trace,
        done=told,
    )
    by_type = {envelope_of(r).event_type: r for r in records}
    assert {"SmsCodeIssued", "NotificationScheduled", "NotificationSent"} <= set(by_type), by_type
    issued, scheduled, sent = (
        by_type[t] for t in ("SmsCodeIssued", "NotificationScheduled", "NotificationSent")
    )
    # Each hop is a new span of the same trace: the request's, the consumer's, the send's.
    spans = [span_id(trace_of(r)) for r in (issued, scheduled, sent)]
    assert caller_span not in spans, spans
    assert len(set(spans)) == 3, spans
    assert span_id(trace_of(sent)) == span_id(sms["traceparent"])
    # Nothing else the person did (their journey before) joined this trace.
    assert all(envelope_of(r).event_type not in {"CardActivated"} for r in records)


async def test_a_request_without_trace_context_starts_one_and_says_which(
    services: dict[str, ServiceProcess], infra: Infrastructure
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        holder = await Paying(client, services).ready(412)
        app = holder.api.headers("dev-citizen-app", holder.person_id)
        asked = await client.put(
            f"{services['notification'].url}/v1/persons/{holder.person_id}/preferences",
            headers=app,
            json={"channels": ["app_push"]},
        )
        assert asked.status_code == 200, asked.text
        # A caller sending a malformed context is treated as sending none; so is one sending two.
        bad = await client.get(
            f"{services['identity'].url}/health", headers={"traceparent": "00-zz-bad-01"}
        )
        given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        twice = await client.get(
            f"{services['identity'].url}/health",
            headers=[("traceparent", given), ("traceparent", given)],
        )
        once = await client.get(
            f"{services['identity'].url}/health", headers={"traceparent": given}
        )
    answer = asked.headers["traceresponse"]
    assert trace_id(answer) not in (None, "0" * 32)
    # Not recorded (no exporter, no caller asking): the sampled flag is clear.
    assert int(answer.rsplit("-", 1)[1], 16) & 1 == 0, answer
    assert bad.status_code == 200
    assert trace_id(bad.headers["traceresponse"]) != "zz"
    assert trace_id(once.headers["traceresponse"]) == trace_id(given)
    assert trace_id(twice.headers["traceresponse"]) != trace_id(given)

    def changed(record: Record) -> bool:
        return (
            record.key == holder.person_id.encode()
            and envelope_of(record).event_type == "NotificationPreferencesChanged"
        )

    records = await read_records(
        infra.bootstrap_servers,
        [EVENTS_TOPIC["notification"]],
        keep=changed,
        done=lambda rs: len(rs) >= 2,
    )
    assert trace_id(answer) in {trace_id(trace_of(r)) for r in records}
