-- The event store, outbox and inbox every service keeps in its own schema.
CREATE TABLE IF NOT EXISTS events (
    position       bigserial   NOT NULL UNIQUE,
    stream_id      text        NOT NULL,
    stream_version integer     NOT NULL CHECK (stream_version >= 1),
    event_id       uuid        NOT NULL UNIQUE,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    person_id      text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    envelope       jsonb       NOT NULL,
    PRIMARY KEY (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_person_idx ON events (person_id, position);

-- Rows wait here until the relay has published them; txid orders them in commit-safe order
-- (the relay only reads rows whose transaction is older than every one still running).
CREATE TABLE IF NOT EXISTS outbox (
    id             bigserial   PRIMARY KEY,
    txid           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    topic          text        NOT NULL,
    message_key    text        NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    value          bytea       NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_order_idx ON outbox (txid, id);

-- Which foreign events each consumer group has applied: written in the same transaction
-- as the state change, so a redelivered event changes nothing.
CREATE TABLE IF NOT EXISTS inbox (
    consumer_group text        NOT NULL,
    event_id       uuid        NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
