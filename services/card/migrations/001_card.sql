-- Read model of the service's own events: each card, its holder and its status.
CREATE TABLE IF NOT EXISTS cards (
    card_id    text        PRIMARY KEY,
    person_id  text        NOT NULL,
    stream_id  text        NOT NULL,
    region     text        NOT NULL,
    status     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cards_person_idx ON cards (person_id);
CREATE INDEX IF NOT EXISTS cards_status_idx ON cards (status, updated_at);
