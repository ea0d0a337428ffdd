-- Who holds the slots of a global concurrency limit: task runs holding a slot of their tags'
-- `tag:` limits (Prefect keeps these as leases). Written in the same transaction as the limit's
-- counters; a limit's rows go with it.

CREATE TABLE concurrency_slot_holder (
    limit_id TEXT NOT NULL,
    holder_id TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (limit_id, holder_id)
);
CREATE INDEX concurrency_slot_holder_holder ON concurrency_slot_holder (holder_id);
