-- Who caused each event, through which channel: kept beside the event (not in the published
-- envelope) so that a person's timeline can say who did what (Social Insurance Law art. 4).
ALTER TABLE events ADD COLUMN IF NOT EXISTS actor text;
ALTER TABLE events ADD COLUMN IF NOT EXISTS channel text;
