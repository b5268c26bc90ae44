-- One-time codes to send by SMS, still sealed (the notification service opens one only to
-- send it; no code is ever stored in clear, in a text or elsewhere).
CREATE TABLE IF NOT EXISTS sealed_codes (
    about_event_id text        PRIMARY KEY,
    person_id      text        NOT NULL,
    code_id        text        NOT NULL,
    key_id         text        NOT NULL,
    sealed_code    text        NOT NULL,
    expires_at     timestamptz NOT NULL
);
