-- Where each consumer of the offset-based poller (Svix's pollerv2) stands:
-- the last message it committed, and the messages handed out to it under a
-- lease that ends at `lease_until`. Offsets count an endpoint's messages from
-- where the consumer started; forgotten with the endpoint.
CREATE TABLE poll_offsets (
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    consumer_id TEXT NOT NULL,
    committed TEXT,
    next_offset BIGINT NOT NULL,
    leased TEXT,
    lease_next BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, consumer_id)
);
