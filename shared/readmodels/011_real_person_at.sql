-- When the person last passed a real-person (face) verification: online activation needs a
-- recent one.
ALTER TABLE verified_persons ADD COLUMN IF NOT EXISTS real_person_at timestamptz;
