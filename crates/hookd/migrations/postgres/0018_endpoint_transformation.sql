-- An endpoint's transformation: JavaScript run on each delivery before it is
-- sent, and whether it is on. JSON, sealed like secrets (its variables may
-- hold credentials).
ALTER TABLE endpoints ADD COLUMN transformation TEXT;
