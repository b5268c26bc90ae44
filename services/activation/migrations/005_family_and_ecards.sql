-- Who may act for whom (FamilyMemberLinked / Unlinked from identity.events).
CREATE TABLE IF NOT EXISTS family_links (
    holder_person_id text NOT NULL,
    member_person_id text NOT NULL,
    PRIMARY KEY (holder_person_id, member_person_id)
);

-- Claimed e-cards (ECardClaimed / ECardResumed from card.events).
CREATE TABLE IF NOT EXISTS claimed_ecards (
    person_id text PRIMARY KEY,
    card_id   text NOT NULL,
    region    text NOT NULL
);
