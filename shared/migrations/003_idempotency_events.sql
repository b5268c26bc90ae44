-- The events a keyed command stored, named in its transaction: what a retry is told took
-- effect when the command's answer was lost.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS events jsonb NOT NULL DEFAULT '[]';
