-- Poller tokens (get/rotate-poller-token): the endpoint whose messages they
-- read, and the token itself sealed like secrets, since the operator may ask
-- for it again.
ALTER TABLE tokens ADD COLUMN endpoint_id TEXT REFERENCES endpoints(id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN sealed TEXT;
