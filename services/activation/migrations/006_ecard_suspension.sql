-- Why the e-card is suspended (ECardSuspended), until ECardResumed: it pays only while NULL.
ALTER TABLE claimed_ecards ADD COLUMN IF NOT EXISTS suspended text;
