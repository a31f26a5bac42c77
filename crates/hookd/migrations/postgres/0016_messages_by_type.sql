-- An application's messages of one event type, newest first, through an
-- index: the filter by event type of the message lists and the console.
CREATE INDEX messages_app_type ON messages (app_id, event_type, id);
