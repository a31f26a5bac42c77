-- SQLite's 0006 fills its per-application and per-endpoint indexes in
-- batches; PostgreSQL keeps them as indexes (several nodes write at once, so
-- no one of them knows where the unindexed rows begin).
SELECT 1;
