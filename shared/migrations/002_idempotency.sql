-- Idempotency-Key: a command's first answer, replayed for the same key, caller and request.
-- `attempt` names the execution that holds the key; the transaction that stores the command's
-- events sets `committed_at` only while its attempt still holds it, so a command runs once.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope bytea NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    attempt uuid NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    committed_at timestamptz,
    status int,
    content_type text,
    body bytea,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_claimed ON idempotency_keys (claimed_at);
