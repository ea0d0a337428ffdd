-- The last `prefect.flow-run.heartbeat` the event pipeline saw for each flow run (the server's
-- receive time), for the zombies service. No foreign key: heartbeats of deleted runs are ignored
-- by the join that reads them.

CREATE TABLE flow_run_heartbeat (
    flow_run_id TEXT PRIMARY KEY,
    last_heartbeat TEXT NOT NULL
);
CREATE INDEX flow_run_heartbeat_last ON flow_run_heartbeat (last_heartbeat);
