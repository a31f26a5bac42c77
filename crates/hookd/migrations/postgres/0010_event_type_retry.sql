-- A retry schedule per event type (seconds, JSON), which its deliveries follow
-- unless their endpoint has its own. A table of its own, so that updating an
-- event type (which rewrites its row) leaves the schedule as it was.
CREATE TABLE event_type_retry_schedules (
    name TEXT PRIMARY KEY,
    schedule TEXT NOT NULL
);
