-- Operational events waiting to be sent to the operator's operational webhook
-- endpoints: each is written in the transaction of what it reports, and
-- removed once it is stored as a message of the operational application.
-- `data` is the event's data when its cause knew it; otherwise (an automatic
-- disable, a finished task) it is built from the other columns when sent.
CREATE TABLE operational_events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    data TEXT,
    app_id TEXT,
    app_uid TEXT,
    endpoint_id TEXT,
    endpoint_uid TEXT,
    fail_since INTEGER,
    task_id TEXT,
    created_at INTEGER NOT NULL
);

-- Long-running work started through the API (`recover`), as Svix's
-- `/background-task` shows it. `data` holds its parameters; `count` how many
-- rows it changed.
CREATE TABLE background_tasks (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    count INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
