-- The password of a destination URL (`amqp://user:pass@host/…`), sealed like
-- secrets; `url` holds the URL with the password masked.
ALTER TABLE endpoints ADD COLUMN url_password TEXT;
