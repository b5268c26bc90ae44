-- Learned from card.events and activation.events: which cards each person holds, so that
-- personal data is never erased while a card depends on it.
CREATE TABLE IF NOT EXISTS held_cards (
    card_id   text PRIMARY KEY,
    person_id text NOT NULL,
    status    text NOT NULL
);
CREATE INDEX IF NOT EXISTS held_cards_person_idx ON held_cards (person_id);
