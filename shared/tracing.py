"""Trace context (W3C ``traceparent``) carried from an HTTP request through the events it
causes to the consumers that apply them and the messages those send: one citizen's journey
is one trace across the four services.

Spans are exported only when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, to
``OTEL_EXPORTER_OTLP_ENDPOINT``, or ``console``); by default none is, and only the context
travels (a caller's sampled flag is kept, so a caller who records sees the whole journey).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

Exporter = Literal["otlp", "console"]

#: The Kafka record header (and HTTP header) carrying the trace context, as W3C names it.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
#: W3C Trace Context Level 2: the answer names the server's span, so a caller finds its trace.
TRACERESPONSE = "traceresponse"

_PROPAGATOR = TraceContextTextMapPropagator()
_tracer: trace.Tracer = trace.NoOpTracer()
_provider: TracerProvider | None = None

#: Inside a consumer's batch or a dispatch round: the trace context of what each cause (an
#: event id, a notification id) is part of, so the events it causes continue its trace.
_CAUSES: ContextVar[Mapping[str, str] | None] = ContextVar("trace_causes", default=None)


def configure(
    service: str, exporters: Sequence[Exporter] = (), endpoint: str | None = None
) -> None:
    """Set up this process's tracer (the last call wins; tests build several apps)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    resource = Resource.create({"service.name": f"shebao-{service}"})
    if not exporters:
        # Nothing is recorded unless a caller's flag asks; ids are made and carried all the same.
        _provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_OFF))
    else:
        _provider = TracerProvider(resource=resource)  # OTEL_TRACES_SAMPLER, else always on
        for name in dict.fromkeys(exporters):
            _provider.add_span_processor(BatchSpanProcessor(_exporter(name, endpoint)))
    _tracer = _provider.get_tracer("shebao")


def _exporter(name: Exporter, endpoint: str | None) -> SpanExporter:
    if name == "otlp":
        # Imported here: the OTLP exporter pulls in protobuf, needed only when exporting.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        traces = f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None
        return OTLPSpanExporter(endpoint=traces)
    return ConsoleSpanExporter(out=sys.stdout, formatter=lambda s: s.to_json(indent=None) + "\n")


def flush() -> None:
    """Hand every finished span to the exporter (at shutdown, and in tests)."""
    if _provider is not None:
        _provider.force_flush()


def parent_of(headers: Mapping[str, str]) -> otel_context.Context:
    """The context a caller or a record carries (empty when it carries none or a bad one)."""
    return _PROPAGATOR.extract(headers)


def record_parent(headers: Iterable[tuple[str, bytes]] | None) -> otel_context.Context:
    """The context a Kafka record's headers carry."""
    named = {}
    for key, value in headers or ():
        if key in (TRACEPARENT, TRACESTATE):
            named[key] = value.decode("ascii", errors="replace")
    return parent_of(named)


def current() -> str | None:
    """The current span's ``traceparent``, or None outside any trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def of_span(span: Span) -> str | None:
    """A span's ``traceparent``."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def header_of(traceparent: str | None) -> dict[str, str]:
    """The record header carrying a trace context (none when there is none)."""
    return {} if traceparent is None else {TRACEPARENT: traceparent}


def inject(headers: dict[str, str]) -> None:
    """Add the current trace context to an outgoing request's headers."""
    _PROPAGATOR.inject(headers)


@contextlib.contextmanager
def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span]:
    """A span made current for the block (child of ``parent``, else of the current one)."""
    with _tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes, record_exception=False
    ) as started:
        yield started


def start(
    name: str,
    kind: SpanKind,
    parent: otel_context.Context | None,
    attributes: Mapping[str, str | int] | None = None,
) -> Span:
    """A span that is not made current (one of many in a batch); the caller ends it."""
    return _tracer.start_span(name, context=parent, kind=kind, attributes=attributes)


@contextlib.contextmanager
def causes(traces: Mapping[str, str | None]) -> Iterator[None]:
    """Within the block, events caused by one of ``traces``' keys continue its trace."""
    token = _CAUSES.set({k: v for k, v in traces.items() if v is not None})
    try:
        yield
    finally:
        _CAUSES.reset(token)


def of_cause(causation_id: str) -> str | None:
    """The trace an event caused by ``causation_id`` belongs to: its cause's, else the
    current span's (an HTTP request), else none."""
    return (_CAUSES.get() or {}).get(causation_id) or current()


def of_causes(causation_ids: Sequence[str]) -> list[str | None]:
    """``of_cause`` for many events at once."""
    traces = _CAUSES.get() or {}
    here = current()
    return [traces.get(c) or here for c in causation_ids]
