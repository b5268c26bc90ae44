-- The trace context of the event a message tells of: its send continues that trace.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS trace_context text;
