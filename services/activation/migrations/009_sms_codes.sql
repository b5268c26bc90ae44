-- One-time SMS codes for password recovery: only a keyed hash of each code is kept.
CREATE TABLE IF NOT EXISTS sms_codes (
    code_id    text        PRIMARY KEY,
    person_id  text        NOT NULL,
    purpose    text        NOT NULL,
    code_hash  text        NOT NULL,
    key_id     text        NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0,
    used_at    timestamptz,
    issued_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sms_codes_person_idx ON sms_codes (person_id, issued_at);
