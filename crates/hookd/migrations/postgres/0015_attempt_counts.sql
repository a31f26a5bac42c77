-- Attempts counted per application, hour, endpoint and outcome, kept up by
-- each commit of outcomes, so that a chart of the last day reads a few rows
-- instead of a day of attempts. Filled from the last two days' attempts.
CREATE TABLE attempt_counts (
    app_id TEXT NOT NULL,
    period BIGINT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (app_id, period, endpoint_id, status)
);

INSERT INTO attempt_counts (app_id, period, endpoint_id, status, n)
SELECT app_id, (created_at / 3600000000) * 3600000000, endpoint_id, status, COUNT(*)
FROM attempts
WHERE created_at >= (extract(epoch FROM now())::bigint - 172800) * 1000000
GROUP BY 1, 2, 3, 4;
