-- The insured-person registry (derived from PersonRegistered and PersonalDataErased).
-- Personal data is kept only as the ciphertexts the events carry.
CREATE TABLE IF NOT EXISTS persons (
    person_id             text        PRIMARY KEY,
    id_number_hash        text        NOT NULL UNIQUE,
    region                text        NOT NULL,
    masked_id_number      text        NOT NULL,
    guardian_person_id    text,
    name_ciphertext       text,
    id_number_ciphertext  text,
    birth_date_ciphertext text,
    phone_ciphertext      text,
    erased                boolean     NOT NULL DEFAULT false
);

-- Each person's data key, wrapped under the master key. Not derived from events: erasing a
-- person deletes their row here, and every ciphertext of theirs becomes unreadable.
CREATE TABLE IF NOT EXISTS person_keys (
    person_id   text  PRIMARY KEY,
    wrapped_key bytea NOT NULL
);

-- Superseded by persons.
DROP TABLE IF EXISTS person_index;
