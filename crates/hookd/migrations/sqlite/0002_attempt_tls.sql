-- Attempts record whether the receiver's certificate was checked.
ALTER TABLE attempts ADD COLUMN ssl_verification BIGINT NOT NULL DEFAULT 1;
