"""Spans leave the process only when an exporter is named: OTLP over HTTP to a collector's
address, with the service's name and the caller's trace kept."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shared import tracing


class Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver keeping every request it is sent."""

    received: list[ExportTraceServiceRequest] = []  # noqa: RUF012 - one per test run

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        Collector.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[list[ExportTraceServiceRequest], str]]:
    server = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Collector.received = []
    try:
        yield Collector.received, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        tracing.configure("test")


def test_otlp_exports_the_spans_of_a_callers_trace(
    collector: tuple[list[ExportTraceServiceRequest], str],
) -> None:
    received, endpoint = collector
    tracing.configure("card", ["otlp"], endpoint)
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with tracing.span("POST /v1/cards", parent=tracing.parent_of({"traceparent": caller})):
        inner = tracing.current()
    tracing.flush()
    spans = [
        (resource.resource, span)
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    [(resource, span)] = spans
    assert span.name == "POST /v1/cards"
    assert span.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.parent_span_id.hex() == "00f067aa0ba902b7"
    assert inner is not None
    assert inner.split("-")[2] == span.span_id.hex()
    names = {a.key: a.value.string_value for a in resource.attributes}
    assert names["service.name"] == "shebao-card"


def test_without_an_exporter_nothing_leaves_but_the_context_travels(
    collector: tuple[list[ExportTraceServiceRequest], str],
) -> None:
    received, endpoint = collector
    tracing.configure("card", (), endpoint)
    with tracing.span("GET /health"):
        made = tracing.current()
    tracing.flush()
    assert received == []
    assert made is not None
    assert int(made.rsplit("-", 1)[1], 16) & 1 == 0  # not sampled


def test_a_record_header_that_is_no_trace_context_starts_none() -> None:
    tracing.configure("card")
    parent = tracing.record_parent([("traceparent", b"\xff\xfe not ascii")])
    with tracing.span("process", parent=parent):
        made = tracing.current()
    assert made is not None
    assert "\ufffd" not in made


def test_the_exporter_setting_reads_as_opentelemetry_writes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    from shared.settings import ServiceSettings

    for given, taken in (
        ("none", ()),
        ("OTLP", ("otlp",)),
        ("console, otlp", ("console", "otlp")),
        ("", ()),
    ):
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", given)
        assert ServiceSettings().trace_exporters == taken, given
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(ValidationError, match="OTEL_TRACES_EXPORTER"):
        ServiceSettings()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ValidationError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        ServiceSettings()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/protobuf")
    assert ServiceSettings().otlp_protocol == "http/protobuf"
