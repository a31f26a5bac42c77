-- An endpoint's own TLS: a CA its receiver's certificate is checked against,
-- and the client identity (key and certificate) for mutual TLS. JSON, sealed
-- like secrets (the key is one).
ALTER TABLE endpoints ADD COLUMN tls TEXT;
