-- Which card each replacement replaces (CardReplaced from card.events): the new card
-- inherits the old card's medical insurance account.
CREATE TABLE IF NOT EXISTS replacements (
    new_card_id text PRIMARY KEY,
    old_card_id text NOT NULL
);
