-- Facts identity issued for a person (PersonFactsIssued): keyed hashes of the ID number's
-- 6-digit runs (no password may be one) and the sealed day the person turns 7 (photo rule).
CREATE TABLE IF NOT EXISTS person_facts (
    person_id text PRIMARY KEY,
    key_id text NOT NULL,
    password_windows text[] NOT NULL,
    photo_exempt_until text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
