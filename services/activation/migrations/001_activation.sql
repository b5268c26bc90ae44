-- Learned from card.events: each card's holder and delivery status.
CREATE TABLE IF NOT EXISTS known_cards (
    card_id    text        PRIMARY KEY,
    person_id  text        NOT NULL,
    status     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
