-- Who identity.events say is verified, at which level (see shared/verified.py).
CREATE TABLE IF NOT EXISTS verified_persons (
    person_id  text        PRIMARY KEY,
    level      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
