-- Blocks: block types, their schemas, block documents and the references between documents. Same
-- conventions as the core tables: TEXT ids and timestamps, the wire document in `doc`, indexed
-- copies of what lookups and filters use. A schema's capabilities are stored as `|a|b|` (like tags)
-- so "has every capability" is a substring test; `is_anonymous` is 0 or 1.

CREATE TABLE block_type (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE block_schema (
    id TEXT PRIMARY KEY,
    block_type_id TEXT NOT NULL,
    checksum TEXT NOT NULL,
    version TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    created TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX block_schema_checksum_version ON block_schema (checksum, version);
CREATE INDEX block_schema_type ON block_schema (block_type_id);

CREATE TABLE block_document (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    block_type_id TEXT NOT NULL,
    block_type_name TEXT NOT NULL,
    block_schema_id TEXT NOT NULL,
    is_anonymous BIGINT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX block_document_type_name ON block_document (block_type_id, name);
CREATE INDEX block_document_schema ON block_document (block_schema_id);

-- Top-level key `name` of the parent's data is the referenced document.
CREATE TABLE block_document_reference (
    parent_block_document_id TEXT NOT NULL,
    name TEXT NOT NULL,
    reference_block_document_id TEXT NOT NULL,
    PRIMARY KEY (parent_block_document_id, name)
);
CREATE INDEX block_document_reference_target ON block_document_reference (reference_block_document_id);
