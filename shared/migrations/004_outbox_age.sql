-- When each outbox row was written: the age of the oldest unpublished event is an alert.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
