-- Every message told to a citizen: the delivery log.
CREATE TABLE IF NOT EXISTS messages (
    notification_id text        PRIMARY KEY,
    person_id       text        NOT NULL,
    about_event_id  uuid        NOT NULL,
    about_event_type text       NOT NULL,
    channel         text        NOT NULL,
    template        text        NOT NULL,
    language        text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (about_event_id, channel)
);
CREATE INDEX IF NOT EXISTS messages_person_idx ON messages (person_id, created_at);
