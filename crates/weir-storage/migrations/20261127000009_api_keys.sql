-- API keys: only the SHA-256 of each key's secret is stored. `key_id` is the public part of the
-- key (`weir_<key_id>_<secret>`), the lookup of every authenticated request. Names are unique among
-- keys that are not revoked, so a name can be reused after its key is revoked.

CREATE TABLE api_key (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX api_key_unrevoked_name ON api_key (name) WHERE revoked IS NULL;
CREATE INDEX api_key_created ON api_key (created);
