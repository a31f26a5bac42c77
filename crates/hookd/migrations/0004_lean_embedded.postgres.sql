-- The embedded store's 0004 rebuilds tables for SQLite's write costs; on
-- PostgreSQL the layout of 0001 stays as it is.
SELECT 1;
