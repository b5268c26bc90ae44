-- Payment codes (展码) redeemed: each authorises one settlement (written in the same
-- transaction as its SettlementAuthorized, so a code is never half-used).
CREATE TABLE IF NOT EXISTS redeemed_payment_codes (
    code_id     text        PRIMARY KEY,
    redeemed_at timestamptz NOT NULL DEFAULT now()
);
