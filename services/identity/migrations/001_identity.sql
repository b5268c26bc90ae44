-- Which person id a keyed hash of an ID number belongs to (derived from IdentityVerified).
CREATE TABLE IF NOT EXISTS person_index (
    id_number_hash text PRIMARY KEY,
    person_id      text NOT NULL UNIQUE
);

-- Face-check results are single use: a replayed nonce is refused.
CREATE TABLE IF NOT EXISTS face_check_nonces (
    provider text        NOT NULL,
    nonce    text        NOT NULL,
    used_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, nonce)
);
