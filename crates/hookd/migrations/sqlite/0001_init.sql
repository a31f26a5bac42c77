-- One schema for SQLite and PostgreSQL: times are BIGINT microseconds since the
-- epoch, flags are BIGINT 0/1 and structured fields are JSON text, so that the
-- same SQL runs on both.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    uid TEXT UNIQUE,
    name TEXT NOT NULL,
    throttle_rate BIGINT,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE event_types (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    archived BIGINT NOT NULL,
    deprecated BIGINT NOT NULL,
    schemas TEXT,
    group_name TEXT,
    feature_flags TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE endpoints (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uid TEXT,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    version BIGINT NOT NULL,
    throttle_rate BIGINT,
    disabled BIGINT NOT NULL,
    event_types TEXT,
    channels TEXT,
    metadata TEXT NOT NULL,
    headers TEXT NOT NULL,
    secret TEXT NOT NULL,
    old_secrets TEXT NOT NULL,
    options TEXT NOT NULL,
    first_failure_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_app ON endpoints (app_id, id);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    event_id TEXT,
    channels TEXT,
    tags TEXT,
    payload TEXT,
    deliver_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (app_id, event_id)
);
CREATE INDEX messages_app ON messages (app_id, id);
CREATE INDEX messages_expiry ON messages (expires_at) WHERE payload IS NOT NULL;

-- One row per (message, endpoint): the unit of work of the delivery engine.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    trigger_type BIGINT NOT NULL,
    next_attempt_at BIGINT,
    lease_until BIGINT,
    lease_owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (msg_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, msg_id);
CREATE INDEX deliveries_endpoint_status ON deliveries (endpoint_id, status);

CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    status BIGINT NOT NULL,
    status_code BIGINT NOT NULL,
    response TEXT,
    response_headers TEXT,
    duration_ms BIGINT NOT NULL,
    trigger_type BIGINT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX attempts_msg ON attempts (msg_id, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    app_id TEXT REFERENCES applications(id) ON DELETE CASCADE,
    read_only BIGINT NOT NULL,
    expires_at BIGINT,
    revoked BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT,
    body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_age ON idempotency (created_at);
