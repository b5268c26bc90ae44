-- Loss reports, learned from card.events: a lost card is not activated.
ALTER TABLE known_cards ADD COLUMN IF NOT EXISTS lost text;
