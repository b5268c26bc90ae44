-- Claiming takes the first due messages in (next_attempt_at, seq) order, skipping any whose
-- person has an earlier message on the same channel still on its way (claimed, not yet
-- recorded). With a backlog of 200,000 messages the old indexes made each claim scan and sort
-- the whole table (and, as a generic plan, run for minutes): now the due index gives the
-- order itself, so a claim reads about as many rows as it takes, and only the few messages
-- in flight are indexed for the check (each message decided no longer pays for that entry).
CREATE INDEX IF NOT EXISTS messages_due_order_idx ON messages (next_attempt_at, seq)
    WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS messages_in_flight_idx ON messages (person_id, channel, seq)
    WHERE status = 'scheduled' AND in_flight_since IS NOT NULL;
DROP INDEX IF EXISTS messages_due_idx;
DROP INDEX IF EXISTS messages_lane_idx;
