//! Block types and block schemas: create, read, filter, update (types) and delete, with deletes
//! cascading to what depends on them (a type's schemas and documents, a schema's documents).
//!
//! Creating a schema is idempotent on checksum and version, and registers the schemas it nests
//! (from its `definitions`) when they are not registered yet, as Prefect's server does. The
//! server checks names and slugs before they reach the store; uniqueness is the tables' UNIQUE
//! constraints, so concurrent creates cannot both succeed.

use crate::db::{bind_all, on_pool, tags_column};
use crate::{Error, Result, Store};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;
use weir_core::blocks::builtin::BuiltinBlock;
use weir_core::blocks::checksum::nested_schema_fields;
use weir_core::blocks::{
    html_escape, schema_checksum, BlockSchema, BlockSchemaCreate, BlockType, BlockTypeCreate,
    BlockTypeUpdate, DEFAULT_BLOCK_SCHEMA_VERSION,
};
use weir_core::filters::{Predicate, SqlValue};
use weir_core::Timestamp;

const TYPE_NOT_FOUND: Error = Error::NotFound { kind: "Block type" };
const SCHEMA_NOT_FOUND: Error = Error::NotFound {
    kind: "Block schema",
};

/// Schemas nest at most this deep (a guard against self-referencing definitions).
const MAX_SCHEMA_NESTING: usize = 20;

impl Store {
    /// Creates a block type; a name or slug already in use is a conflict. Like Prefect, the
    /// description and code example are stored HTML-escaped.
    pub async fn create_block_type(
        &self,
        create: BlockTypeCreate,
        is_protected: bool,
    ) -> Result<BlockType> {
        let now = Timestamp::now();
        let block_type = BlockType {
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            name: create.name,
            slug: create.slug,
            logo_url: create.logo_url,
            documentation_url: create.documentation_url,
            description: create.description.as_deref().map(html_escape),
            code_example: create.code_example.as_deref().map(html_escape),
            is_protected,
        };
        let inserted = on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO block_type (id, name, slug, created, updated, doc) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
            .bind(block_type.id.to_string())
            .bind(&block_type.name)
            .bind(&block_type.slug)
            .bind(now.to_canonical())
            .bind(now.to_canonical())
            .bind(serde_json::to_string(&block_type)?)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if inserted == 0 {
            return Err(Error::Conflict(format!(
                "Block type with name {:?} or slug {:?} already exists",
                block_type.name, block_type.slug
            )));
        }
        Ok(block_type)
    }

    /// The block type with this id.
    pub async fn read_block_type(&self, id: Uuid) -> Result<BlockType> {
        self.block_type_where("id", &id.to_string()).await
    }

    /// The block type with this slug.
    pub async fn read_block_type_by_slug(&self, slug: &str) -> Result<BlockType> {
        self.block_type_where("slug", slug).await
    }

    async fn block_type_where(&self, column: &str, key: &str) -> Result<BlockType> {
        let sql = format!("SELECT doc FROM block_type WHERE {column} = $1");
        let row: Option<(String,)> = on_pool!(read &self.db, pool =>
            sqlx::query_as(&sql).bind(key).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(TYPE_NOT_FOUND)?;
        Ok(serde_json::from_str(&doc)?)
    }

    /// Block types matching a predicate over `block_type`, by name.
    pub async fn filter_block_types(
        &self,
        predicate: &Predicate,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Vec<BlockType>> {
        self.docs_where("block_type", predicate, "name, id", limit, offset)
            .await
    }

    /// Every block type by id (block types are few; readers of documents and schemas use this).
    pub(crate) async fn block_types_by_id(&self) -> Result<HashMap<Uuid, BlockType>> {
        let all = self
            .filter_block_types(&Predicate::True, None, None)
            .await?;
        Ok(all.into_iter().map(|t| (t.id, t)).collect())
    }

    /// Applies an update to a block type; one that changes nothing writes nothing.
    pub async fn update_block_type(&self, id: Uuid, update: BlockTypeUpdate) -> Result<()> {
        let mut block_type = self.read_block_type(id).await?;
        if !update.changes(&block_type) {
            return Ok(());
        }
        update.apply(&mut block_type);
        block_type.updated = Timestamp::now();
        let changed = on_pool!(&self.db, pool => sqlx::query(
            "UPDATE block_type SET updated = $1, doc = $2 WHERE id = $3")
            .bind(block_type.updated.to_canonical())
            .bind(serde_json::to_string(&block_type)?)
            .bind(id.to_string())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(TYPE_NOT_FOUND);
        }
        Ok(())
    }

    /// Deletes a block type with its schemas, its documents and their references. Whether the
    /// type is protected is the caller's check.
    pub async fn delete_block_type(&self, id: Uuid) -> Result<()> {
        let key = id.to_string();
        let deleted = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let documents = "SELECT id FROM block_document WHERE block_type_id = $1";
            for statement in [
                format!("DELETE FROM block_document_reference WHERE parent_block_document_id IN ({documents}) OR reference_block_document_id IN ({documents})"),
                "DELETE FROM block_document WHERE block_type_id = $1".to_owned(),
                "DELETE FROM block_schema WHERE block_type_id = $1".to_owned(),
            ] {
                sqlx::query(&statement).bind(&key).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM block_type WHERE id = $1")
                .bind(&key).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(TYPE_NOT_FOUND);
        }
        Ok(())
    }

    /// Creates a block schema, or finds the one with the same checksum and version: `(schema,
    /// created)`. The schemas it nests (`block_schema_references`) are registered from its
    /// `definitions` when missing; a nested type that does not exist is a conflict.
    pub async fn create_block_schema(
        &self,
        create: BlockSchemaCreate,
    ) -> Result<(BlockSchema, bool)> {
        self.create_schema_nested(create, None, 0).await
    }

    async fn create_schema_nested(
        &self,
        create: BlockSchemaCreate,
        root_definitions: Option<Map<String, Value>>,
        depth: usize,
    ) -> Result<(BlockSchema, bool)> {
        let block_type = self.read_block_type(create.block_type_id).await?;
        let definitions = root_definitions.or_else(|| {
            create
                .fields
                .get("definitions")
                .and_then(Value::as_object)
                .cloned()
        });
        // A nested schema's checksum is computed against its root's definitions, as Prefect does.
        let mut for_checksum = create.fields.clone();
        if let Some(definitions) = definitions.as_ref().filter(|d| !d.is_empty()) {
            for_checksum.insert("definitions".into(), Value::Object(definitions.clone()));
        }
        let checksum = schema_checksum(&for_checksum);
        if let Some(existing) = self
            .find_block_schema(&checksum, Some(&create.version))
            .await?
        {
            return Ok((existing, false));
        }
        let references = create
            .fields
            .get("block_schema_references")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (property, entries) in &references {
            let entries = match entries {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            for entry in entries {
                self.register_nested_schema(
                    &create.fields,
                    definitions.as_ref(),
                    property,
                    &entry,
                    depth,
                )
                .await?;
            }
        }
        let now = Timestamp::now();
        let schema = BlockSchema {
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            checksum,
            fields: create.fields,
            block_type_id: block_type.id,
            block_type: None,
            capabilities: create.capabilities,
            version: create.version,
        };
        let inserted = on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO block_schema (id, block_type_id, checksum, version, capabilities, created, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING")
            .bind(schema.id.to_string())
            .bind(schema.block_type_id.to_string())
            .bind(&schema.checksum)
            .bind(&schema.version)
            .bind(tags_column(&schema.capabilities))
            .bind(now.to_canonical())
            .bind(serde_json::to_string(&schema)?)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if inserted == 0 {
            // Created concurrently: answer the one that won.
            let existing = self
                .find_block_schema(&schema.checksum, Some(&schema.version))
                .await?
                .ok_or(SCHEMA_NOT_FOUND)?;
            return Ok((existing, false));
        }
        Ok((
            BlockSchema {
                block_type: Some(block_type),
                ..schema
            },
            true,
        ))
    }

    /// Registers the schema nested under `property` per `entry` (`{block_type_slug,
    /// block_schema_checksum}`) unless a schema with that checksum exists.
    async fn register_nested_schema(
        &self,
        parent: &Map<String, Value>,
        definitions: Option<&Map<String, Value>>,
        property: &str,
        entry: &Value,
        depth: usize,
    ) -> Result<()> {
        let slug = entry
            .get("block_type_slug")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "fields.block_schema_references: the entry of {property:?} has no block_type_slug"
                ))
            })?;
        let nested_type = match self.read_block_type_by_slug(slug).await {
            Ok(found) => found,
            Err(Error::NotFound { .. }) => {
                return Err(Error::Conflict(format!(
                    "Cannot create block schema because block type {slug:?} was not found. \
                     Register the block type first."
                )))
            }
            Err(other) => return Err(other),
        };
        if let Some(checksum) = entry.get("block_schema_checksum").and_then(Value::as_str) {
            if self.find_block_schema(checksum, None).await?.is_some() {
                return Ok(());
            }
        }
        if depth >= MAX_SCHEMA_NESTING {
            return Err(Error::Invalid(format!(
                "fields.block_schema_references: schemas nest deeper than {MAX_SCHEMA_NESTING}"
            )));
        }
        let fields = definitions
            .and_then(|d| nested_schema_fields(parent, d, property, slug))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "fields.definitions: no definition of the {slug:?} block nested under {property:?}"
                ))
            })?;
        let create = BlockSchemaCreate {
            fields,
            block_type_id: nested_type.id,
            capabilities: Vec::new(),
            version: DEFAULT_BLOCK_SCHEMA_VERSION.to_owned(),
        };
        Box::pin(self.create_schema_nested(create, definitions.cloned(), depth + 1)).await?;
        Ok(())
    }

    /// The block schema with this id, with its type.
    pub async fn read_block_schema(&self, id: Uuid) -> Result<BlockSchema> {
        let found = self
            .filter_block_schemas(
                &Predicate::In("id", vec![SqlValue::Text(id.to_string())]),
                None,
                None,
            )
            .await?;
        found.into_iter().next().ok_or(SCHEMA_NOT_FOUND)
    }

    /// The newest block schema with this checksum (and version, if given), with its type.
    pub async fn read_block_schema_by_checksum(
        &self,
        checksum: &str,
        version: Option<&str>,
    ) -> Result<BlockSchema> {
        self.find_block_schema(checksum, version)
            .await?
            .ok_or(SCHEMA_NOT_FOUND)
    }

    async fn find_block_schema(
        &self,
        checksum: &str,
        version: Option<&str>,
    ) -> Result<Option<BlockSchema>> {
        let mut parts = vec![Predicate::In(
            "checksum",
            vec![SqlValue::Text(checksum.to_owned())],
        )];
        if let Some(version) = version {
            parts.push(Predicate::In(
                "version",
                vec![SqlValue::Text(version.to_owned())],
            ));
        }
        let found = self
            .filter_block_schemas(&Predicate::And(parts), Some(1), None)
            .await?;
        Ok(found.into_iter().next())
    }

    /// Block schemas matching a predicate over `block_schema`, newest first, with their types.
    pub async fn filter_block_schemas(
        &self,
        predicate: &Predicate,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Vec<BlockSchema>> {
        let mut schemas: Vec<BlockSchema> = self
            .docs_where("block_schema", predicate, "created DESC, id", limit, offset)
            .await?;
        if !schemas.is_empty() {
            let types = self.block_types_by_id().await?;
            for schema in &mut schemas {
                schema.block_type = types.get(&schema.block_type_id).cloned();
            }
        }
        Ok(schemas)
    }

    /// Deletes a block schema with the documents of it and their references.
    pub async fn delete_block_schema(&self, id: Uuid) -> Result<()> {
        let key = id.to_string();
        let deleted = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let documents = "SELECT id FROM block_document WHERE block_schema_id = $1";
            for statement in [
                format!("DELETE FROM block_document_reference WHERE parent_block_document_id IN ({documents}) OR reference_block_document_id IN ({documents})"),
                "DELETE FROM block_document WHERE block_schema_id = $1".to_owned(),
            ] {
                sqlx::query(&statement).bind(&key).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM block_schema WHERE id = $1")
                .bind(&key).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(SCHEMA_NOT_FOUND);
        }
        Ok(())
    }

    /// Every capability some block schema declares, sorted.
    pub async fn block_capabilities(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool =>
            sqlx::query_as("SELECT DISTINCT capabilities FROM block_schema").fetch_all(pool).await)?;
        let mut capabilities: Vec<String> = rows
            .iter()
            .flat_map(|(column,)| column.split('|'))
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        capabilities.sort();
        capabilities.dedup();
        Ok(capabilities)
    }

    /// Registers built-in block types and their schemas: a type whose slug exists is left as it
    /// is, and a schema whose checksum and version exist is not created again, so running this
    /// at every start changes nothing after the first.
    pub async fn register_builtin_blocks(&self, blocks: &[BuiltinBlock]) -> Result<()> {
        for block in blocks {
            let block_type = match self.read_block_type_by_slug(&block.block_type.slug).await {
                Ok(found) => found,
                Err(Error::NotFound { .. }) => {
                    match self
                        .create_block_type(block.block_type.clone(), block.is_protected)
                        .await
                    {
                        Ok(created) => created,
                        // Another server on the same database created it first.
                        Err(Error::Conflict(_)) => {
                            self.read_block_type_by_slug(&block.block_type.slug).await?
                        }
                        Err(other) => return Err(other),
                    }
                }
                Err(other) => return Err(other),
            };
            self.create_block_schema(block.schema(block_type.id))
                .await?;
        }
        Ok(())
    }

    /// The `doc` column of the rows of `table` matching `predicate`, in `order`, paged.
    pub(crate) async fn docs_where<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        predicate: &Predicate,
        order: &str,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Vec<T>> {
        let mut sql = self.db.builder();
        sql.push("SELECT doc FROM ")
            .push(table)
            .push(" WHERE ")
            .predicate(predicate)
            .push(" ORDER BY ")
            .push(order);
        sql.page(limit, offset);
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(doc,)| Ok(serde_json::from_str(&doc)?))
            .collect()
    }
}
