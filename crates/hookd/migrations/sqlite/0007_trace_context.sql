-- A publish's W3C trace context, which every delivery of the message carries on.
ALTER TABLE messages ADD COLUMN traceparent TEXT;
ALTER TABLE messages ADD COLUMN tracestate TEXT;
