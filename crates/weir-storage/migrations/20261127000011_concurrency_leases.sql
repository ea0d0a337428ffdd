-- Concurrency leases (Prefect's `/v2/concurrency_limits/increment-with-lease`): `slots` taken on
-- each limit of `concurrency_lease_limit` until the holder gives them back or `expires` passes and
-- the lease repossessor does. A lease row is created in the transaction that takes its slots, and
-- deleted in the one that gives them back, so the slots of a lease are released at most once.

CREATE TABLE concurrency_lease (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    slots BIGINT NOT NULL,
    holder_type TEXT,
    holder_id TEXT
);
CREATE INDEX concurrency_lease_expires ON concurrency_lease (expires);
CREATE INDEX concurrency_lease_holder ON concurrency_lease (holder_id);

CREATE TABLE concurrency_lease_limit (
    lease_id TEXT NOT NULL,
    limit_id TEXT NOT NULL,
    PRIMARY KEY (lease_id, limit_id)
);
CREATE INDEX concurrency_lease_limit_limit ON concurrency_lease_limit (limit_id);
