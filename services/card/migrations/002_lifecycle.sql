-- The cards read model learns loss reports, activation (from activation.events) and
-- production time.
ALTER TABLE cards ADD COLUMN IF NOT EXISTS lost text;
ALTER TABLE cards ADD COLUMN IF NOT EXISTS activated boolean NOT NULL DEFAULT false;

-- Time-driven transitions (a temporary loss report lapses, an uncollected card is sealed).
-- Rows are derived from events; the scheduler fires each once, in the transaction that
-- appends what it decides.
CREATE TABLE IF NOT EXISTS card_timers (
    card_id    text        NOT NULL,
    kind       text        NOT NULL,
    due_at     timestamptz NOT NULL,
    since      timestamptz NOT NULL,
    fired_at   timestamptz,
    PRIMARY KEY (card_id, kind, due_at)
);
CREATE INDEX IF NOT EXISTS card_timers_due_idx ON card_timers (due_at) WHERE fired_at IS NULL;

-- E-cards and who may act for whom (FamilyMemberLinked from identity.events).
CREATE TABLE IF NOT EXISTS ecards (
    person_id text NOT NULL,
    stream_id text NOT NULL,
    card_id   text NOT NULL,
    region    text NOT NULL,
    PRIMARY KEY (person_id, stream_id)
);
CREATE TABLE IF NOT EXISTS family_links (
    holder_person_id text NOT NULL,
    member_person_id text NOT NULL,
    PRIMARY KEY (holder_person_id, member_person_id)
);
