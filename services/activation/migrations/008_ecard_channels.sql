-- The channels the holder bound their e-card to (ChannelBound / ChannelUnlinked from
-- card.events): a payment code is shown, and redeemed, only through one of them.
CREATE TABLE IF NOT EXISTS ecard_channels (
    person_id text NOT NULL,
    channel   text NOT NULL,
    PRIMARY KEY (person_id, channel)
);
