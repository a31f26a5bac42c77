-- How far each consumer of an endpoint's messages has read (the poller API's
-- server-kept iterators), forgotten with the endpoint.
CREATE TABLE poll_consumers (
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    consumer_id TEXT NOT NULL,
    iterator TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, consumer_id)
);
