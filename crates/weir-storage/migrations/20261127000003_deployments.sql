-- Deployments; their schedules live in the document. Same conventions as the core tables.

CREATE TABLE deployment (
    id TEXT PRIMARY KEY,
    flow_id TEXT NOT NULL,
    name TEXT NOT NULL,
    work_queue_id TEXT,
    paused BOOLEAN NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX deployment_flow_name ON deployment (flow_id, name);
