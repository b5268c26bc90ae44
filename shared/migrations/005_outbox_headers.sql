-- The record headers of each event beyond event_type and schema_version (a JSON object):
-- its CloudEvents attributes (Kafka binding) and the trace context (W3C traceparent) of what
-- caused it, so that a journey's request, events, consumers and sends are one trace.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS headers text;
