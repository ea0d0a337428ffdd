-- Global concurrency limits (v2). The wire document in `doc` carries the slot counters; increments
-- and decrements read the rows under a lock (FOR UPDATE on PostgreSQL, the single writer on SQLite),
-- apply weir-core's accounting and write `doc` back in the same transaction.

CREATE TABLE concurrency_limit_v2 (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);
