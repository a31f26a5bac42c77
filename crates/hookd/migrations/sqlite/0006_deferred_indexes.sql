-- The embedded store's three per-application and per-endpoint indexes become
-- tables that the writer fills in batches (see `store/sqlite/deferred.rs`). As
-- indexes, every message put an entry on a page of its own application's or
-- endpoint's part of each, so with a hundred endpoints a commit wrote about
-- thirty scattered pages for them.
--
-- Rows whose key is above a table's mark in `index_marks` (the tail) are not
-- in its index table yet: queries read the index table and scan the short
-- tail. The writer indexes the tail and raises the mark in one transaction.
-- A row written with a key at or below the mark (a late commit, a resend)
-- is indexed at once by a trigger, so that every row is found exactly once.

CREATE TABLE index_marks (
    name TEXT NOT NULL PRIMARY KEY,
    upto TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE messages_by_app (
    app_id TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (app_id, id)
) WITHOUT ROWID;
INSERT INTO messages_by_app (app_id, id) SELECT app_id, id FROM messages;
INSERT INTO index_marks (name, upto) VALUES ('messages', COALESCE((SELECT max(id) FROM messages), ''));
DROP INDEX messages_app;
CREATE TRIGGER messages_by_app_late AFTER INSERT ON messages
    WHEN NEW.id <= (SELECT upto FROM index_marks WHERE name = 'messages')
    BEGIN INSERT OR IGNORE INTO messages_by_app (app_id, id) VALUES (NEW.app_id, NEW.id); END;
CREATE TRIGGER messages_by_app_gone AFTER DELETE ON messages
    BEGIN DELETE FROM messages_by_app WHERE app_id = OLD.app_id AND id = OLD.id; END;

CREATE TABLE deliveries_by_endpoint (
    endpoint_id TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, msg_id)
) WITHOUT ROWID;
INSERT INTO deliveries_by_endpoint (endpoint_id, msg_id, id) SELECT endpoint_id, msg_id, id FROM deliveries;
INSERT INTO index_marks (name, upto) VALUES ('deliveries', COALESCE((SELECT max(id) FROM deliveries), ''));
DROP INDEX deliveries_endpoint;
CREATE TRIGGER deliveries_by_endpoint_late AFTER INSERT ON deliveries
    WHEN NEW.id <= (SELECT upto FROM index_marks WHERE name = 'deliveries')
    BEGIN INSERT OR IGNORE INTO deliveries_by_endpoint (endpoint_id, msg_id, id) VALUES (NEW.endpoint_id, NEW.msg_id, NEW.id); END;
CREATE TRIGGER deliveries_by_endpoint_gone AFTER DELETE ON deliveries
    BEGIN DELETE FROM deliveries_by_endpoint WHERE endpoint_id = OLD.endpoint_id AND msg_id = OLD.msg_id; END;

-- Attempts are keyed (msg_id, id), so their tail is the attempts of messages
-- above the mark.
CREATE TABLE attempts_by_endpoint (
    endpoint_id TEXT NOT NULL,
    id TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, id)
) WITHOUT ROWID;
INSERT INTO attempts_by_endpoint (endpoint_id, id, msg_id) SELECT endpoint_id, id, msg_id FROM attempts;
INSERT INTO index_marks (name, upto) VALUES ('attempts', COALESCE((SELECT max(msg_id) FROM attempts), ''));
DROP INDEX attempts_endpoint;
CREATE TRIGGER attempts_by_endpoint_late AFTER INSERT ON attempts
    WHEN NEW.msg_id <= (SELECT upto FROM index_marks WHERE name = 'attempts')
    BEGIN INSERT OR IGNORE INTO attempts_by_endpoint (endpoint_id, id, msg_id) VALUES (NEW.endpoint_id, NEW.id, NEW.msg_id); END;
CREATE TRIGGER attempts_by_endpoint_gone AFTER DELETE ON attempts
    BEGIN DELETE FROM attempts_by_endpoint WHERE endpoint_id = OLD.endpoint_id AND id = OLD.id; END;

