-- The order messages were decided in: a person's messages are delivered in that order.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS seq bigserial;
