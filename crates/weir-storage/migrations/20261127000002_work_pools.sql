-- Work pools, their queues and their workers. Same conventions as the core tables: TEXT ids and
-- timestamps, the wire document in `doc`, indexed copies of what lookups use.

CREATE TABLE work_pool (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE work_queue (
    id TEXT PRIMARY KEY,
    work_pool_id TEXT NOT NULL,
    name TEXT NOT NULL,
    priority BIGINT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX work_queue_pool_name ON work_queue (work_pool_id, name);

CREATE TABLE worker (
    id TEXT PRIMARY KEY,
    work_pool_id TEXT NOT NULL,
    name TEXT NOT NULL,
    last_heartbeat_time TEXT NOT NULL,
    heartbeat_interval_seconds BIGINT,
    created TEXT NOT NULL
);
CREATE UNIQUE INDEX worker_pool_name ON worker (work_pool_id, name);

-- What a worker's poll reads: a queue's scheduled runs in time order, and its active runs.
CREATE INDEX flow_run_queue_state ON flow_run (work_queue_id, state_type, next_scheduled_start_time);
CREATE INDEX flow_run_pool_state ON flow_run (work_pool_id, state_type);
