-- Messages and attempts stored in their key's order (WITHOUT ROWID), as
-- deliveries already are. A rowid table with a TEXT primary key is two
-- b-trees, the rows by rowid and the key beside them, and each insert wrote a
-- page of both in every commit.
--   messages: keyed by id.
--   attempts: keyed by (msg_id, id), which is also how a message's attempts
--     are listed and one is fetched, so the attempts_msg index goes too.
-- Rebuilds tables with foreign keys off, as 0004 does.

CREATE TABLE messages_new (
    id TEXT NOT NULL PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    event_type TEXT NOT NULL,
    event_id TEXT,
    channels TEXT,
    tags TEXT,
    payload TEXT,
    deliver_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO messages_new (id, app_id, event_type, event_id, channels, tags, payload, deliver_at, created_at, expires_at)
    SELECT id, app_id, event_type, event_id, channels, tags, payload, deliver_at, created_at, expires_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_app ON messages (app_id, id);
CREATE INDEX messages_expiry ON messages (expires_at) WHERE payload IS NOT NULL;
CREATE UNIQUE INDEX messages_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;

CREATE TABLE attempts_new (
    id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    url TEXT NOT NULL,
    status BIGINT NOT NULL,
    status_code BIGINT NOT NULL,
    response TEXT,
    response_headers TEXT,
    duration_ms BIGINT NOT NULL,
    trigger_type BIGINT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    ssl_verification BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (msg_id, id)
) WITHOUT ROWID;
INSERT INTO attempts_new (id, app_id, msg_id, endpoint_id, url, status, status_code, response, response_headers,
        duration_ms, trigger_type, error, created_at, ssl_verification)
    SELECT id, app_id, msg_id, endpoint_id, url, status, status_code, response, response_headers,
        duration_ms, trigger_type, error, created_at, ssl_verification FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);

