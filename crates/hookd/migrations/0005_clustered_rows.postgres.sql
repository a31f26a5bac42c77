-- SQLite's 0005 stores messages and attempts in key order; PostgreSQL's heap
-- tables have no such choice, and its layout stays as 0001 made it.
SELECT 1;
