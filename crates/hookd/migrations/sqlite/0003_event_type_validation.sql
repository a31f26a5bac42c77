-- Event types may ask for published payloads to be checked against their schema.
ALTER TABLE event_types ADD COLUMN validate_payloads BIGINT NOT NULL DEFAULT 0;
