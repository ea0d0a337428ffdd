//! Block documents: create (names are unique within a type), read by id or by type slug and
//! name, filter, count, update and delete.
//!
//! A document's row holds its own data; a top-level key of the data that refers to another
//! document (`{"$ref": {"block_document_id": ...}}`) is a row of `block_document_reference`
//! instead. Reading resolves references into the data (and lists them in
//! `block_document_references`) and masks each document's secrets with its own schema's
//! `secret_fields` unless secrets are asked for. References never form a cycle: a write that would
//! close one is refused.

use crate::db::{bind_all, on_pool};
use crate::{Error, Result, Store};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;
use weir_core::blocks::filters::BlockDocumentSort;
use weir_core::blocks::{
    document_name, obfuscate_secrets, restore_obfuscated_secrets, split_references, BlockDocument,
    BlockDocumentCreate, BlockDocumentUpdate, BlockSchema, BlockType, SplitData,
};
use weir_core::filters::{Predicate, SqlValue};
use weir_core::Timestamp;

const NOT_FOUND: Error = Error::NotFound {
    kind: "Block document",
};

/// References nest at most this deep when read (writes keep the graph acyclic; this bounds a
/// database edited by hand).
const MAX_REFERENCE_DEPTH: usize = 50;

/// References by parent: `(key in the parent's data, referenced document)`.
type ReferenceMap = HashMap<Uuid, Vec<(String, Uuid)>>;

fn secret_fields(schema: &BlockSchema) -> Vec<String> {
    schema
        .fields
        .get("secret_fields")
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn ids(values: impl IntoIterator<Item = Uuid>) -> Predicate {
    let values: Vec<SqlValue> = values
        .into_iter()
        .map(|id| SqlValue::Text(id.to_string()))
        .collect();
    if values.is_empty() {
        Predicate::False
    } else {
        Predicate::In("id", values)
    }
}

/// Everything needed to answer documents: the stored rows reachable through references, the
/// references, and the schemas and types they use.
struct Loaded {
    documents: HashMap<Uuid, BlockDocument>,
    references: ReferenceMap,
    schemas: HashMap<Uuid, BlockSchema>,
    types: HashMap<Uuid, BlockType>,
}

impl Loaded {
    /// The answer for document `id`: data with references resolved and secrets masked unless
    /// `include_secrets`.
    fn assemble(&self, id: Uuid, include_secrets: bool, depth: usize) -> Result<BlockDocument> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err(Error::Invalid(format!(
                "block document references nest deeper than {MAX_REFERENCE_DEPTH}"
            )));
        }
        let mut document = self.documents.get(&id).cloned().ok_or(NOT_FOUND)?;
        let schema = self.schemas.get(&document.block_schema_id).cloned();
        if !include_secrets {
            if let Some(schema) = &schema {
                obfuscate_secrets(&mut document.data, &secret_fields(schema));
            }
        }
        for (key, child_id) in self.references.get(&id).into_iter().flatten() {
            let Ok(child) = self.assemble(*child_id, include_secrets, depth + 1) else {
                continue;
            };
            document.data.insert(key.clone(), Value::Object(child.data));
            document.block_document_references.insert(
                key.clone(),
                json!({"block_document": {
                    "id": child.id,
                    "name": child.name,
                    "block_type": child.block_type,
                    "is_anonymous": child.is_anonymous,
                    "block_document_references": child.block_document_references,
                }}),
            );
        }
        document.block_type = self.types.get(&document.block_type_id).cloned();
        document.block_schema = schema;
        Ok(document)
    }
}

impl Store {
    /// Creates a block document; a name already used within its type is a conflict. References
    /// in `data` must name existing documents.
    pub async fn create_block_document(
        &self,
        create: BlockDocumentCreate,
    ) -> Result<BlockDocument> {
        let id = Uuid::new_v4();
        let name =
            document_name(&create, id).map_err(|msg| Error::Invalid(format!("name: {msg}")))?;
        let block_type = self
            .read_block_type(create.block_type_id)
            .await
            .map_err(|e| not_found_as_invalid(e, "block_type_id", "block type"))?;
        let schema = self
            .read_block_schema(create.block_schema_id)
            .await
            .map_err(|e| not_found_as_invalid(e, "block_schema_id", "block schema"))?;
        if schema.block_type_id != block_type.id {
            return Err(Error::Invalid(
                "block_schema_id: the block schema belongs to another block type".into(),
            ));
        }
        let (data, references) = split(create.data)?;
        self.check_references(id, &references).await?;
        let now = Timestamp::now();
        let document = BlockDocument {
            id,
            created: now,
            updated: now,
            name: Some(name.clone()),
            data,
            block_schema_id: schema.id,
            block_schema: None,
            block_type_id: block_type.id,
            block_type_name: Some(block_type.name.clone()),
            block_type: None,
            block_document_references: Map::new(),
            is_anonymous: create.is_anonymous,
        };
        let doc = serde_json::to_string(&document)?;
        let inserted = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO block_document (id, name, block_type_id, block_type_name, \
                 block_schema_id, is_anonymous, created, updated, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING")
                .bind(id.to_string())
                .bind(&name)
                .bind(block_type.id.to_string())
                .bind(&block_type.name)
                .bind(schema.id.to_string())
                .bind(i64::from(create.is_anonymous))
                .bind(now.to_canonical())
                .bind(now.to_canonical())
                .bind(&doc)
                .execute(&mut *tx).await?.rows_affected();
            if inserted > 0 {
                for (key, target) in &references {
                    sqlx::query("INSERT INTO block_document_reference \
                                 (parent_block_document_id, name, reference_block_document_id) \
                                 VALUES ($1, $2, $3)")
                        .bind(id.to_string()).bind(key).bind(target.to_string())
                        .execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(inserted)
        })?;
        if inserted == 0 {
            return Err(Error::Conflict("Block already exists".into()));
        }
        self.read_block_document(id, false).await
    }

    /// The document with this id, references resolved.
    pub async fn read_block_document(
        &self,
        id: Uuid,
        include_secrets: bool,
    ) -> Result<BlockDocument> {
        let found = self
            .filter_block_documents(
                &ids([id]),
                BlockDocumentSort::NameAsc,
                None,
                None,
                include_secrets,
            )
            .await?;
        found.into_iter().next().ok_or(NOT_FOUND)
    }

    /// The document of the type with slug `slug` named `name`.
    pub async fn read_block_document_by_name(
        &self,
        slug: &str,
        name: &str,
        include_secrets: bool,
    ) -> Result<BlockDocument> {
        let block_type = self
            .read_block_type_by_slug(slug)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => NOT_FOUND,
                other => other,
            })?;
        let predicate = Predicate::And(vec![
            Predicate::In(
                "block_type_id",
                vec![SqlValue::Text(block_type.id.to_string())],
            ),
            Predicate::In("name", vec![SqlValue::Text(name.to_owned())]),
        ]);
        let found = self
            .filter_block_documents(
                &predicate,
                BlockDocumentSort::NameAsc,
                Some(1),
                None,
                include_secrets,
            )
            .await?;
        found.into_iter().next().ok_or(NOT_FOUND)
    }

    /// Documents matching a predicate over `block_document`, sorted and paged, references
    /// resolved.
    pub async fn filter_block_documents(
        &self,
        predicate: &Predicate,
        sort: BlockDocumentSort,
        limit: Option<i64>,
        offset: Option<i64>,
        include_secrets: bool,
    ) -> Result<Vec<BlockDocument>> {
        let roots: Vec<BlockDocument> = self
            .docs_where("block_document", predicate, sort.order_by(), limit, offset)
            .await?;
        if roots.is_empty() {
            return Ok(roots);
        }
        let order: Vec<Uuid> = roots.iter().map(|d| d.id).collect();
        let loaded = self.load_closure(roots).await?;
        order
            .into_iter()
            .map(|id| loaded.assemble(id, include_secrets, 0))
            .collect()
    }

    /// Loads the documents `roots` refer to, transitively, with the schemas and types of all.
    async fn load_closure(&self, roots: Vec<BlockDocument>) -> Result<Loaded> {
        let mut documents: HashMap<Uuid, BlockDocument> =
            roots.into_iter().map(|d| (d.id, d)).collect();
        let mut references = ReferenceMap::new();
        let mut frontier: Vec<Uuid> = documents.keys().copied().collect();
        for _ in 0..=MAX_REFERENCE_DEPTH {
            if frontier.is_empty() {
                break;
            }
            let found = self.references_of(&frontier).await?;
            let mut missing = Vec::new();
            for (parent, key, target) in found {
                references.entry(parent).or_default().push((key, target));
                if !documents.contains_key(&target) && !missing.contains(&target) {
                    missing.push(target);
                }
            }
            let children: Vec<BlockDocument> = self
                .docs_where(
                    "block_document",
                    &ids(missing.iter().copied()),
                    "id",
                    None,
                    None,
                )
                .await?;
            frontier = children.iter().map(|d| d.id).collect();
            documents.extend(children.into_iter().map(|d| (d.id, d)));
        }
        let schema_ids: Vec<Uuid> = documents.values().map(|d| d.block_schema_id).collect();
        let schemas = self
            .filter_block_schemas(&ids(schema_ids), None, None)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        Ok(Loaded {
            documents,
            references,
            schemas,
            types: self.block_types_by_id().await?,
        })
    }

    /// The references held by `parents`: `(parent, key, referenced document)`, by key.
    async fn references_of(&self, parents: &[Uuid]) -> Result<Vec<(Uuid, String, Uuid)>> {
        let values = parents
            .iter()
            .map(|id| SqlValue::Text(id.to_string()))
            .collect();
        let mut sql = self.db.builder();
        sql.push("SELECT parent_block_document_id, name, reference_block_document_id FROM block_document_reference WHERE ")
            .predicate(&Predicate::In("parent_block_document_id", values))
            .push(" ORDER BY name");
        let rows: Vec<(String, String, String)> = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(parent, key, target)| {
                Some((
                    Uuid::parse_str(&parent).ok()?,
                    key,
                    Uuid::parse_str(&target).ok()?,
                ))
            })
            .collect())
    }

    /// How many documents match a predicate over `block_document`.
    pub async fn count_block_documents(&self, predicate: Predicate) -> Result<i64> {
        self.count("block_document", predicate).await
    }

    /// Updates a document's data (merged into the stored data by default; a secret sent back
    /// masked keeps its stored value) and its schema (only to one of the same type).
    pub async fn update_block_document(&self, id: Uuid, update: BlockDocumentUpdate) -> Result<()> {
        let mut stored: BlockDocument = self
            .docs_where("block_document", &ids([id]), "id", None, None)
            .await?
            .into_iter()
            .next()
            .ok_or(NOT_FOUND)?;
        let current_references: Vec<(String, Uuid)> = self
            .references_of(&[id])
            .await?
            .into_iter()
            .map(|(_, key, target)| (key, target))
            .collect();
        if let Some(schema_id) = update
            .block_schema_id
            .filter(|s| *s != stored.block_schema_id)
        {
            let schema = self
                .read_block_schema(schema_id)
                .await
                .map_err(|e| not_found_as_invalid(e, "block_schema_id", "block schema"))?;
            if schema.block_type_id != stored.block_type_id {
                return Err(Error::Invalid(
                    "block_schema_id: a block document can only move to a schema of its own block type".into(),
                ));
            }
            stored.block_schema_id = schema_id;
        }
        let data = match (update.data, update.merge_existing_data) {
            (Some(data), _) => Some(data),
            (None, false) => Some(Map::new()),
            (None, true) => None,
        };
        let mut references = current_references.clone();
        if let Some(mut data) = data {
            let schema = self.read_block_schema(stored.block_schema_id).await?;
            restore_obfuscated_secrets(&mut data, &stored.data, &secret_fields(&schema));
            let sent_keys: Vec<String> = data.keys().cloned().collect();
            let (plain, new_references) = split(data)?;
            self.check_references(id, &new_references).await?;
            if update.merge_existing_data {
                // Keys the update does not mention keep their value, references included.
                references.retain(|(key, _)| !sent_keys.contains(key));
                references.extend(new_references);
                stored.data.retain(|key, _| !sent_keys.contains(key));
                stored.data.extend(plain);
            } else {
                references = new_references;
                stored.data = plain;
            }
        }
        stored.updated = Timestamp::now();
        let doc = serde_json::to_string(&stored)?;
        let changed = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE block_document SET block_schema_id = $1, updated = $2, doc = $3 WHERE id = $4")
                .bind(stored.block_schema_id.to_string())
                .bind(stored.updated.to_canonical())
                .bind(&doc)
                .bind(id.to_string())
                .execute(&mut *tx).await?.rows_affected();
            if changed > 0 && references != current_references {
                sqlx::query("DELETE FROM block_document_reference WHERE parent_block_document_id = $1")
                    .bind(id.to_string()).execute(&mut *tx).await?;
                for (key, target) in &references {
                    sqlx::query("INSERT INTO block_document_reference \
                                 (parent_block_document_id, name, reference_block_document_id) \
                                 VALUES ($1, $2, $3)")
                        .bind(id.to_string()).bind(key).bind(target.to_string())
                        .execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(changed)
        })?;
        if changed == 0 {
            return Err(NOT_FOUND);
        }
        Ok(())
    }

    /// Deletes a document; references to it disappear from the documents that held them.
    pub async fn delete_block_document(&self, id: Uuid) -> Result<()> {
        let key = id.to_string();
        let deleted = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM block_document_reference \
                         WHERE parent_block_document_id = $1 OR reference_block_document_id = $1")
                .bind(&key).execute(&mut *tx).await?;
            let done = sqlx::query("DELETE FROM block_document WHERE id = $1")
                .bind(&key).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(NOT_FOUND);
        }
        Ok(())
    }

    /// Checks that each referenced document exists and that `parent` referring to it closes no
    /// cycle (`parent` reachable from it, or itself).
    async fn check_references(&self, parent: Uuid, references: &[(String, Uuid)]) -> Result<()> {
        for (key, target) in references {
            let exists: Option<(String,)> = on_pool!(read &self.db, pool =>
                sqlx::query_as("SELECT id FROM block_document WHERE id = $1")
                    .bind(target.to_string()).fetch_optional(pool).await)?;
            if exists.is_none() {
                return Err(Error::Invalid(format!(
                    "data.{key}: block document {target} does not exist"
                )));
            }
            let mut seen = vec![*target];
            let mut frontier = vec![*target];
            while !frontier.is_empty() {
                if frontier.contains(&parent) {
                    return Err(Error::Invalid(format!(
                        "data.{key}: referring to block document {target} would make a cycle of references"
                    )));
                }
                let next: Vec<Uuid> = self
                    .references_of(&frontier)
                    .await?
                    .into_iter()
                    .map(|(_, _, child)| child)
                    .filter(|child| !seen.contains(child))
                    .collect();
                seen.extend(&next);
                frontier = next;
            }
        }
        Ok(())
    }
}

/// Splits references out of `data`, naming the key of a malformed one.
fn split(data: Map<String, Value>) -> Result<SplitData> {
    split_references(data).map_err(|(key, msg)| Error::Invalid(format!("data.{key}: {msg}")))
}

/// A 404 of something named in the body becomes a 422 naming the field.
fn not_found_as_invalid(err: Error, field: &str, what: &str) -> Error {
    match err {
        Error::NotFound { .. } => Error::Invalid(format!("{field}: no {what} has this id")),
        other => other,
    }
}
