-- FIFO endpoints: each delivery's order (its ordering key's value, '' for the
-- endpoint's one order; NULL on unordered endpoints) and its place in it,
-- given once the delivery is committed (`store::sql::fifo`).
ALTER TABLE deliveries ADD COLUMN fifo_key TEXT;
ALTER TABLE deliveries ADD COLUMN fifo_seq INTEGER;
-- Only rows of FIFO endpoints are in these: an unordered delivery costs nothing here.
CREATE INDEX deliveries_fifo ON deliveries (endpoint_id, fifo_seq) WHERE fifo_key IS NOT NULL;
CREATE INDEX deliveries_fifo_open ON deliveries (endpoint_id, fifo_key, fifo_seq)
    WHERE fifo_key IS NOT NULL AND status IN (1, 3);
CREATE INDEX deliveries_fifo_unplaced ON deliveries (endpoint_id) WHERE fifo_key IS NOT NULL AND fifo_seq IS NULL;
