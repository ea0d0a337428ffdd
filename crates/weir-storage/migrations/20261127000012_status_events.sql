-- The status last announced for each work pool, work queue and deployment (keyed by its event
-- resource id, e.g. `prefect.work-pool.<id>`): statuses are computed on read, and the server's
-- foreman emits a `prefect.<kind>.<status>` event only when the computed status differs from the
-- one recorded here. A change is claimed with a conditional write, so it is announced once even
-- with several servers. No row means NOT_READY, the status every pool, queue and deployment
-- starts with.

CREATE TABLE status_event (
    resource_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    event_id TEXT NOT NULL,
    emitted TEXT NOT NULL
);
