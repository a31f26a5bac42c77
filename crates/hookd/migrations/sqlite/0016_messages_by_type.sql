-- An application's messages of one event type, newest first, without reading
-- each message: the deferred index of an application's messages keeps the
-- event type too, with an index on it. Both are written by the writer's
-- batched catch-up (and the trigger for late rows), not in every commit.
ALTER TABLE messages_by_app ADD COLUMN event_type TEXT NOT NULL DEFAULT '';
UPDATE messages_by_app SET event_type = (SELECT m.event_type FROM messages m WHERE m.id = messages_by_app.id);
CREATE INDEX messages_by_app_type ON messages_by_app (app_id, event_type, id);
DROP TRIGGER messages_by_app_late;
CREATE TRIGGER messages_by_app_late AFTER INSERT ON messages
    WHEN NEW.id <= (SELECT upto FROM index_marks WHERE name = 'messages')
    BEGIN
        INSERT OR IGNORE INTO messages_by_app (app_id, id, event_type) VALUES (NEW.app_id, NEW.id, NEW.event_type);
    END;
