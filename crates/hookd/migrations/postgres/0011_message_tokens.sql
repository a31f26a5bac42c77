-- Tokens that may only create messages in their application
-- (create-message-token), with the name they were given.
ALTER TABLE tokens ADD COLUMN name TEXT;
ALTER TABLE tokens ADD COLUMN publish_only BIGINT NOT NULL DEFAULT 0;
