-- Attempts counted per application, hour, endpoint and outcome, so that a
-- chart of the last day reads a few rows instead of a day of attempts. The
-- writer adds the attempts' tail when the deferred indexes catch up (in the
-- transaction that raises the attempts' mark: each attempt once), and a
-- trigger adds the late ones (see `store/sqlite/deferred.rs`). Filled from
-- the last two days' attempts at or below the mark; the tail is the writer's.
CREATE TABLE attempt_counts (
    app_id TEXT NOT NULL,
    period BIGINT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (app_id, period, endpoint_id, status)
) WITHOUT ROWID;

INSERT INTO attempt_counts (app_id, period, endpoint_id, status, n)
SELECT app_id, (created_at / 3600000000) * 3600000000, endpoint_id, status, COUNT(*)
FROM attempts
WHERE created_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 172800) * 1000000
  AND msg_id <= (SELECT upto FROM index_marks WHERE name = 'attempts')
GROUP BY 1, 2, 3, 4;

-- One trigger for a late attempt's index entry and its count: each trigger
-- costs every attempt's insert the check of its condition.
DROP TRIGGER attempts_by_endpoint_late;
CREATE TRIGGER attempts_late AFTER INSERT ON attempts
    WHEN NEW.msg_id <= (SELECT upto FROM index_marks WHERE name = 'attempts')
    BEGIN
        INSERT OR IGNORE INTO attempts_by_endpoint (endpoint_id, id, msg_id) VALUES (NEW.endpoint_id, NEW.id, NEW.msg_id);
        INSERT INTO attempt_counts (app_id, period, endpoint_id, status, n)
        VALUES (NEW.app_id, (NEW.created_at / 3600000000) * 3600000000, NEW.endpoint_id, NEW.status, 1)
        ON CONFLICT (app_id, period, endpoint_id, status) DO UPDATE SET n = n + 1;
    END;
