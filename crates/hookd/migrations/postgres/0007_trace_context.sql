-- A publish's W3C trace context, which every delivery of the message carries on.
-- (Version 7: databases of the sqlx `Any` era recorded no-op versions 4 to 6.)
ALTER TABLE messages ADD COLUMN traceparent text, ADD COLUMN tracestate text;
