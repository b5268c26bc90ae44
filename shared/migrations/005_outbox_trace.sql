-- The trace context (W3C traceparent) of what caused each event: the relay sends it as a
-- record header, so a journey's HTTP request, events, consumers and sends are one trace.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS trace_context text;
