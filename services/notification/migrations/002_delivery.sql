-- Real delivery: each message is scheduled, claimed, sent (or retried, or failed) per channel.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'sent';
ALTER TABLE messages ADD COLUMN IF NOT EXISTS required boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE messages ADD COLUMN IF NOT EXISTS in_flight_since timestamptz;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS last_error text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS possible_duplicate boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS sent_at timestamptz;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS gateway_ref text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS dead_letter_pending boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS messages_due_idx ON messages (next_attempt_at)
    WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS messages_dead_letter_idx ON messages (notification_id)
    WHERE dead_letter_pending;

-- Every attempt to deliver, with its outcome: what operators read when a citizen asks.
CREATE TABLE IF NOT EXISTS delivery_attempts (
    notification_id    text        NOT NULL,
    attempt            integer     NOT NULL,
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz NOT NULL DEFAULT now(),
    outcome            text        NOT NULL,  -- sent | transient_error (retried) | failed
    detail             text,
    gateway_ref        text,
    possible_duplicate boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (notification_id, started_at)
);

-- A person's choices (derived from NotificationPreferencesChanged).
CREATE TABLE IF NOT EXISTS preferences (
    person_id         text    PRIMARY KEY,
    channels          text[]  NOT NULL,
    language          text    NOT NULL,
    optional_messages boolean NOT NULL,
    masked_phone      text,
    masked_email      text
);

-- Contact details, encrypted (AES-256-GCM under the service's contact key): never derived,
-- never in an event, forgotten when the person's data is erased.
CREATE TABLE IF NOT EXISTS contacts (
    person_id        text        PRIMARY KEY,
    phone_ciphertext text,
    email_ciphertext text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Who a message is addressed to: the tail of the ID number, from PersonRegistered.
CREATE TABLE IF NOT EXISTS recipients (
    person_id text PRIMARY KEY,
    id_tail   text NOT NULL,
    region    text NOT NULL
);
