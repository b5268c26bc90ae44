-- Finding a person's earlier message still on its way, when claiming the next one.
CREATE INDEX IF NOT EXISTS messages_lane_idx ON messages (person_id, channel, seq)
    WHERE status = 'scheduled';
