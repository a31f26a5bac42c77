-- The embedded store's layout for a write-heavy table set: every b-tree a
-- publish or an outcome touches costs a page in each commit, so SQLite keeps
-- only the ones a query needs.
--   deliveries: WITHOUT ROWID (the id is the key, no separate rowid tree), and
--     no (endpoint_id, status) index: stats and recover read the endpoint's
--     rows through deliveries_endpoint instead.
--   messages: the eventId index holds only messages that have one.
--   messages, deliveries, attempts: foreign keys are checked at the commit. A
--     statement that could fail on its own (an immediate foreign key, or a
--     conflict that only aborts it) makes SQLite keep a copy of every page it
--     touches, to undo it alone; the writer's statements never need that, and
--     skipping it was a fifth of its time in a large fan-out.
-- Rebuilds tables, so it runs with foreign keys off (see `store/sqlite/migrate.rs`):
-- dropping an old table would otherwise cascade to the rows that point at it.

CREATE TABLE messages_new (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    event_type TEXT NOT NULL,
    event_id TEXT,
    channels TEXT,
    tags TEXT,
    payload TEXT,
    deliver_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO messages_new (id, app_id, event_type, event_id, channels, tags, payload, deliver_at, created_at, expires_at)
    SELECT id, app_id, event_type, event_id, channels, tags, payload, deliver_at, created_at, expires_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_app ON messages (app_id, id);
CREATE INDEX messages_expiry ON messages (expires_at) WHERE payload IS NOT NULL;
CREATE UNIQUE INDEX messages_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;

CREATE TABLE deliveries_new (
    id TEXT NOT NULL PRIMARY KEY,
    app_id TEXT NOT NULL,
    msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    status BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    trigger_type BIGINT NOT NULL,
    next_attempt_at BIGINT,
    lease_until BIGINT,
    lease_owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (msg_id, endpoint_id)
) WITHOUT ROWID;
INSERT INTO deliveries_new (id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, next_attempt_at,
        lease_until, lease_owner, created_at, updated_at)
    SELECT id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, next_attempt_at,
        lease_until, lease_owner, created_at, updated_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, msg_id);

CREATE TABLE attempts_new (
    id TEXT PRIMARY KEY,
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
    ssl_verification BIGINT NOT NULL DEFAULT 1
);
INSERT INTO attempts_new (id, app_id, msg_id, endpoint_id, url, status, status_code, response, response_headers,
        duration_ms, trigger_type, error, created_at, ssl_verification)
    SELECT id, app_id, msg_id, endpoint_id, url, status, status_code, response, response_headers,
        duration_ms, trigger_type, error, created_at, ssl_verification FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX attempts_msg ON attempts (msg_id, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);

