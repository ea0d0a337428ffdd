-- Variables: named JSON values with tags. Same conventions as the core tables: TEXT ids and
-- timestamps, the wire document in `doc`, tags as `|a|b|` so a tag test is a substring test.

CREATE TABLE variable (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tags TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX variable_created ON variable (created);
CREATE INDEX variable_updated ON variable (updated);
