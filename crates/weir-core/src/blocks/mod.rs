//! Blocks: Prefect 3.9.1's typed, named configuration documents. A *block type* (`secret`,
//! `kubernetes-cluster-config`...) has *block schemas* (JSON schemas of its data, identified by a
//! checksum and a version), and *block documents* are named instances of a schema's data, whose
//! secret fields are masked in every answer unless secrets are asked for.
//!
//! This module holds the wire shapes and the rules Prefect's server applies to them (names, slugs,
//! nested references in a document's data); `checksum` computes schema checksums exactly as
//! Prefect does, `secrets` masks and restores secret values, `filters` translates the `/filter`
//! bodies, and `builtin` lists the block types Weir registers at start.
//!
//! Pure: the checks return messages for the server to wrap in a 4xx naming the field.

pub mod builtin;
pub mod checksum;
pub mod filters;
pub mod secrets;

use crate::time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

pub use checksum::schema_checksum;
pub use secrets::{obfuscate_secrets, restore_obfuscated_secrets, OBFUSCATED};

/// The version of a block schema created without one.
pub const DEFAULT_BLOCK_SCHEMA_VERSION: &str = "non-versioned";

/// The characters Prefect refuses in block type names and block document names.
const BANNED_NAME_CHARACTERS: [char; 5] = ['/', '%', '&', '>', '<'];

/// A stored block type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlockType {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub slug: String,
    pub logo_url: Option<String>,
    pub documentation_url: Option<String>,
    pub description: Option<String>,
    pub code_example: Option<String>,
    /// Protected types (Weir's built-in `secret`) cannot be deleted.
    pub is_protected: bool,
}

/// Body of `POST /block_types/`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockTypeCreate {
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub logo_url: Option<String>,
    #[serde(default)]
    pub documentation_url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub code_example: Option<String>,
}

/// `Some(value)` for a present field, `Some(None)` for `null`; `None` when absent.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Body of `PATCH /block_types/{id}`: absent fields stay as they are, `null` clears one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockTypeUpdate {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub logo_url: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub documentation_url: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub code_example: Option<Option<String>>,
}

impl BlockTypeUpdate {
    /// Whether applying this update to `block_type` would change it. Like Prefect, texts are
    /// compared after HTML unescaping, since stored descriptions are escaped.
    pub fn changes(&self, block_type: &BlockType) -> bool {
        let differs = |new: &Option<Option<String>>, old: &Option<String>| match new {
            None => false,
            Some(new) => new.as_deref().map(html_unescape) != old.as_deref().map(html_unescape),
        };
        differs(&self.logo_url, &block_type.logo_url)
            || differs(&self.documentation_url, &block_type.documentation_url)
            || differs(&self.description, &block_type.description)
            || differs(&self.code_example, &block_type.code_example)
    }

    /// Applies the update to `block_type` (not its `updated` time).
    pub fn apply(self, block_type: &mut BlockType) {
        if let Some(value) = self.logo_url {
            block_type.logo_url = value;
        }
        if let Some(value) = self.documentation_url {
            block_type.documentation_url = value;
        }
        if let Some(value) = self.description {
            block_type.description = value;
        }
        if let Some(value) = self.code_example {
            block_type.code_example = value;
        }
    }
}

/// A stored block schema. `fields` is the JSON schema of the data with Prefect's extra keys:
/// `block_type_slug`, `secret_fields`, `block_schema_references` and the `definitions` the schema
/// refers to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlockSchema {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub checksum: String,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub block_type_id: Uuid,
    /// The schema's block type as it is now (filled in on every read).
    pub block_type: Option<BlockType>,
    pub capabilities: Vec<String>,
    pub version: String,
}

fn default_version() -> String {
    DEFAULT_BLOCK_SCHEMA_VERSION.to_owned()
}

/// Body of `POST /block_schemas/`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockSchemaCreate {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub block_type_id: Uuid,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default = "default_version")]
    pub version: String,
}

/// A block document as answered: its data with nested documents resolved, its schema and type,
/// and the record of which top-level keys of `data` are other documents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlockDocument {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    pub block_schema_id: Uuid,
    pub block_schema: Option<BlockSchema>,
    pub block_type_id: Uuid,
    pub block_type_name: Option<String>,
    pub block_type: Option<BlockType>,
    /// `{key: {"block_document": {id, name, block_type, is_anonymous, block_document_references}}}`
    /// for each key of `data` that is another document.
    #[schema(value_type = Object)]
    pub block_document_references: Map<String, Value>,
    pub is_anonymous: bool,
}

/// Body of `POST /block_documents/`. `name` may be left out only for an anonymous document.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockDocumentCreate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    pub block_schema_id: Uuid,
    pub block_type_id: Uuid,
    #[serde(default)]
    pub is_anonymous: bool,
}

fn yes() -> bool {
    true
}

/// Body of `PATCH /block_documents/{id}`. With `merge_existing_data` (the default) the keys of
/// `data` replace the stored ones and the others stay; without it `data` (default `{}`) replaces
/// the stored data.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockDocumentUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_schema_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Map<String, Value>>,
    #[serde(default = "yes")]
    pub merge_existing_data: bool,
}

impl Default for BlockDocumentUpdate {
    fn default() -> Self {
        BlockDocumentUpdate {
            block_schema_id: None,
            data: None,
            merge_existing_data: true,
        }
    }
}

/// Checks a block type slug: lowercase letters, digits and dashes.
pub fn check_slug(slug: &str) -> Result<(), String> {
    match slug
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        Some(bad) => Err(format!(
            "{bad:?} is not allowed: a block type slug holds only lowercase letters, numbers and dashes"
        )),
        None => Ok(()),
    }
}

/// Checks a block type name: not empty, none of `/ % & > <`.
pub fn check_type_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    match name.chars().find(|c| BANNED_NAME_CHARACTERS.contains(c)) {
        Some(bad) => Err(format!("{bad:?} is not allowed in a name")),
        None => Ok(()),
    }
}

/// Whether a block type name is reserved (Prefect keeps names starting with "prefect" for its
/// own types).
pub fn is_reserved_type_name(name: &str) -> bool {
    name.to_lowercase().starts_with("prefect")
}

/// Checks a block document name: lowercase letters, digits and dashes, not empty.
pub fn check_document_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    match name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        Some(bad) => Err(format!(
            "{bad:?} is not allowed: a block document name holds only lowercase letters, numbers and dashes"
        )),
        None => Ok(()),
    }
}

/// The name a document is stored under: its own, or for an anonymous one without a name
/// `anonymous-<uuid>`; a named document must have one.
pub fn document_name(create: &BlockDocumentCreate, id: Uuid) -> Result<String, String> {
    match (&create.name, create.is_anonymous) {
        (Some(name), _) if !name.is_empty() => {
            check_document_name(name)?;
            Ok(name.clone())
        }
        (_, true) => Ok(format!("anonymous-{id}")),
        (_, false) => Err("a block document needs a name unless it is anonymous".into()),
    }
}

/// A document's data without its references, and the references: `(key, referenced document)`.
pub type SplitData = (Map<String, Value>, Vec<(String, Uuid)>);

/// Splits a document's data into plain data and references to other documents: a top-level value
/// `{"$ref": {"block_document_id": ID}}` names another document (Prefect looks no deeper).
/// An error names the key whose reference has no usable id.
pub fn split_references(data: Map<String, Value>) -> Result<SplitData, (String, String)> {
    let mut plain = Map::new();
    let mut references = Vec::new();
    for (key, value) in data {
        match value.as_object().and_then(|object| object.get("$ref")) {
            Some(reference) => {
                let id = reference
                    .get("block_document_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        (
                            key.clone(),
                            "a block reference needs a block_document_id".to_owned(),
                        )
                    })?;
                let id = Uuid::parse_str(id).map_err(|_| {
                    (
                        key.clone(),
                        format!("block_document_id {id:?} is not a UUID"),
                    )
                })?;
                references.push((key, id));
            }
            None => {
                plain.insert(key, value);
            }
        }
    }
    Ok((plain, references))
}

/// Python's `html.escape(text, quote=False)`: Prefect stores block type descriptions and code
/// examples escaped.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Undoes [`html_escape`] (and the quote entities), for comparisons.
pub fn html_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slugs_and_names_follow_prefects_rules() {
        assert!(check_slug("kubernetes-cluster-config").is_ok());
        assert!(check_slug("K8s").unwrap_err().contains("'K'"));
        assert!(check_slug("a_b").is_err());
        assert!(check_type_name("Kubernetes Cluster Config").is_ok());
        assert!(check_type_name("a/b").unwrap_err().contains("'/'"));
        assert!(check_type_name("").is_err());
        assert!(is_reserved_type_name("Prefect Thing"));
        assert!(!is_reserved_type_name("My Prefect"));
        assert!(check_document_name("my-cluster-2").is_ok());
        assert!(check_document_name("My_cluster").is_err());
        assert!(check_document_name("").is_err());
    }

    #[test]
    fn anonymous_documents_get_generated_names() {
        let id = Uuid::new_v4();
        let create = |name: Option<&str>, anonymous: bool| BlockDocumentCreate {
            name: name.map(str::to_owned),
            data: Map::new(),
            block_schema_id: Uuid::nil(),
            block_type_id: Uuid::nil(),
            is_anonymous: anonymous,
        };
        assert_eq!(
            document_name(&create(None, true), id).unwrap(),
            format!("anonymous-{id}")
        );
        assert_eq!(document_name(&create(Some("x"), true), id).unwrap(), "x");
        assert!(document_name(&create(None, false), id).is_err());
        assert!(document_name(&create(Some("Bad"), false), id).is_err());
    }

    #[test]
    fn references_are_split_from_the_data() {
        let id = Uuid::new_v4();
        let data = json!({
            "cluster_config": {"$ref": {"block_document_id": id.to_string()}},
            "namespace": "default",
            "nested": {"deeper": {"$ref": {"block_document_id": "not looked at"}}}
        });
        let (plain, references) = split_references(data.as_object().unwrap().clone()).unwrap();
        assert_eq!(references, vec![("cluster_config".to_owned(), id)]);
        assert_eq!(plain.len(), 2);
        assert!(plain.contains_key("nested"));
        let bad = json!({"x": {"$ref": {}}});
        assert_eq!(
            split_references(bad.as_object().unwrap().clone())
                .unwrap_err()
                .0,
            "x"
        );
    }

    #[test]
    fn type_updates_apply_only_what_they_name() {
        let mut block_type = BlockType {
            id: Uuid::nil(),
            created: Timestamp::now(),
            updated: Timestamp::now(),
            name: "T".into(),
            slug: "t".into(),
            logo_url: Some("l".into()),
            documentation_url: None,
            description: Some(html_escape("a < b")),
            code_example: None,
            is_protected: false,
        };
        let same: BlockTypeUpdate =
            serde_json::from_value(json!({"description": "a < b"})).unwrap();
        assert!(!same.changes(&block_type));
        let update: BlockTypeUpdate =
            serde_json::from_value(json!({"logo_url": null, "code_example": "x"})).unwrap();
        assert!(update.changes(&block_type));
        update.apply(&mut block_type);
        assert_eq!(block_type.logo_url, None);
        assert_eq!(block_type.code_example.as_deref(), Some("x"));
        assert_eq!(block_type.description.as_deref(), Some("a &lt; b"));
        assert!(serde_json::from_value::<BlockTypeUpdate>(json!({"name": "x"})).is_err());
    }

    #[test]
    fn document_updates_merge_by_default() {
        let update: BlockDocumentUpdate = serde_json::from_value(json!({})).unwrap();
        assert!(update.merge_existing_data);
        assert!(update.data.is_none());
    }
}
