-- Weir's core tables. The SQL is kept portable between SQLite and PostgreSQL: ids, timestamps and
-- JSON documents are TEXT (timestamps in a fixed-width UTC form that sorts like time), so one
-- migration serves both backends. Each resource keeps its full wire document in `doc` and copies the
-- fields that filters and sorts use into indexed columns.

CREATE TABLE flow (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tags TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE flow_run (
    id TEXT PRIMARY KEY,
    flow_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state_id TEXT,
    state_type TEXT,
    state_name TEXT,
    tags TEXT NOT NULL,
    deployment_id TEXT,
    work_queue_name TEXT,
    work_queue_id TEXT,
    work_pool_id TEXT,
    flow_version TEXT,
    parent_task_run_id TEXT,
    idempotency_key TEXT,
    start_time TEXT,
    end_time TEXT,
    expected_start_time TEXT,
    next_scheduled_start_time TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);
-- Also serves lookups by flow_id (its prefix).
CREATE UNIQUE INDEX flow_run_idempotency ON flow_run (flow_id, idempotency_key);
CREATE INDEX flow_run_state_type ON flow_run (state_type, next_scheduled_start_time);
CREATE INDEX flow_run_expected_start ON flow_run (expected_start_time);
CREATE INDEX flow_run_parent_task ON flow_run (parent_task_run_id);
CREATE INDEX flow_run_deployment ON flow_run (deployment_id);

CREATE TABLE flow_run_state (
    id TEXT PRIMARY KEY,
    flow_run_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX flow_run_state_run ON flow_run_state (flow_run_id, timestamp);

CREATE TABLE task_run (
    id TEXT PRIMARY KEY,
    flow_run_id TEXT,
    name TEXT NOT NULL,
    task_key TEXT NOT NULL,
    dynamic_key TEXT NOT NULL,
    cache_key TEXT,
    state_id TEXT,
    state_type TEXT,
    state_name TEXT,
    state_timestamp TEXT,
    tags TEXT NOT NULL,
    start_time TEXT,
    end_time TEXT,
    expected_start_time TEXT,
    next_scheduled_start_time TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX task_run_flow_run ON task_run (flow_run_id);
CREATE INDEX task_run_key ON task_run (flow_run_id, task_key, dynamic_key);
CREATE INDEX task_run_cache_key ON task_run (cache_key);

CREATE TABLE task_run_state (
    id TEXT PRIMARY KEY,
    task_run_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX task_run_state_run ON task_run_state (task_run_id, timestamp);

CREATE TABLE log (
    id TEXT PRIMARY KEY,
    flow_run_id TEXT,
    task_run_id TEXT,
    name TEXT NOT NULL,
    level BIGINT NOT NULL,
    message TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX log_flow_run ON log (flow_run_id, timestamp);

CREATE TABLE event (
    id TEXT PRIMARY KEY,
    occurred TEXT NOT NULL,
    event TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX event_occurred ON event (occurred);
CREATE INDEX event_name ON event (event, occurred);
