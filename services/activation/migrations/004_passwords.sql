-- The region of each card (its initial password and lock rule are the region's).
ALTER TABLE known_cards ADD COLUMN IF NOT EXISTS region text;

-- Argon2id hashes of changed passwords. Not derived from events (no hash is ever in one):
-- a card without a row still has its region's initial password.
CREATE TABLE IF NOT EXISTS card_passwords (
    card_id   text NOT NULL,
    card_kind text NOT NULL,
    hash      text NOT NULL,
    PRIMARY KEY (card_id, card_kind)
);
