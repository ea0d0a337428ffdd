//! Blocks from Rust: a configuration struct deriving [`Block`] (with `Serialize`, `Deserialize`
//! and `schemars::JsonSchema`) registers itself as a block type with a schema, saves named
//! documents and loads them back, on a Weir or Prefect 3 server.
//!
//! ```no_run
//! use weir_sdk::{schemars, Block};
//!
//! /// Where results are stored.
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema, Block)]
//! #[block(slug = "result-bucket", name = "Result Bucket")]
//! struct ResultBucket {
//!     bucket: String,
//!     #[block(secret)]
//!     access_key: String,
//! }
//!
//! # async fn demo() -> weir_sdk::Result<()> {
//! let bucket = ResultBucket { bucket: "runs".into(), access_key: "s3cr3t".into() };
//! bucket.save("prod").await?;
//! let loaded = ResultBucket::load("prod").await?;
//! # Ok(()) }
//! ```
//!
//! The schema has Prefect's block shape (`block_type_slug`, `secret_fields`,
//! `block_schema_references`, `definitions`), so the Python client sees the type like any other.
//! Secret fields are top-level fields marked `#[block(secret)]`, named as the Rust field (a
//! `#[serde(rename)]` on a secret field is not followed). Nested blocks are stored inline, not as
//! references to other documents.

use crate::config::ApiConfig;
use crate::Error;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::future::Future;
use weir_client::Client;
use weir_core::blocks::{
    schema_checksum, BlockDocument, BlockDocumentCreate, BlockDocumentUpdate, BlockSchema,
    BlockSchemaCreate, BlockType, BlockTypeCreate, BlockTypeUpdate,
};

/// A configuration type stored on the server as block documents. Derive it with
/// `#[derive(Block)]`; the provided methods register, save and load.
pub trait Block: Serialize + DeserializeOwned + schemars::JsonSchema + Send + Sync + Sized {
    /// The block type's slug, e.g. `result-bucket`.
    fn block_type_slug() -> &'static str;

    /// The block type's display name, e.g. `Result Bucket`.
    fn block_type_name() -> &'static str;

    /// The top-level fields the server masks in its answers.
    fn secret_fields() -> Vec<String>;

    /// The schema's version (the derive uses the defining crate's version, as Prefect uses its
    /// package's).
    fn schema_version() -> &'static str {
        weir_core::blocks::DEFAULT_BLOCK_SCHEMA_VERSION
    }

    /// The block schema's `fields`: the struct's JSON schema (draft 7) with Prefect's block keys.
    fn schema() -> Map<String, Value> {
        let generator = SchemaSettings::draft07().into_generator();
        let schema = generator.into_root_schema_for::<Self>();
        let mut fields = match schema.to_value() {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
        fields.remove("$schema");
        let secrets = Self::secret_fields();
        if let Some(properties) = fields.get_mut("properties").and_then(Value::as_object_mut) {
            for secret in &secrets {
                if let Some(Value::Object(property)) = properties.get_mut(secret) {
                    property.insert("format".into(), json!("password"));
                    property.insert("writeOnly".into(), json!(true));
                }
            }
        }
        fields.insert("block_type_slug".into(), json!(Self::block_type_slug()));
        fields.insert("secret_fields".into(), json!(secrets));
        fields.insert("block_schema_references".into(), json!({}));
        fields
    }

    /// The schema's checksum, as the server (and Prefect's client) computes it.
    fn checksum() -> String {
        schema_checksum(&Self::schema())
    }

    /// Registers the block type (creating it, or updating its description) and the schema;
    /// idempotent.
    fn register(
        client: &Client,
    ) -> impl Future<Output = crate::Result<(BlockType, BlockSchema)>> + Send {
        async move {
            let fields = Self::schema();
            let description = fields
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let block_type = match client
                .read_block_type_by_slug(Self::block_type_slug())
                .await
            {
                Ok(found) => {
                    let update = BlockTypeUpdate {
                        description: Some(description),
                        ..Default::default()
                    };
                    if update.changes(&found) {
                        client.update_block_type(found.id, &update).await?;
                    }
                    found
                }
                Err(err) if err.status().is_some_and(|s| s.as_u16() == 404) => {
                    let create = BlockTypeCreate {
                        name: Self::block_type_name().to_owned(),
                        slug: Self::block_type_slug().to_owned(),
                        logo_url: None,
                        documentation_url: None,
                        description,
                        code_example: None,
                    };
                    client.create_block_type(&create).await?
                }
                Err(err) => return Err(err.into()),
            };
            let create = BlockSchemaCreate {
                fields,
                block_type_id: block_type.id,
                capabilities: Vec::new(),
                version: Self::schema_version().to_owned(),
            };
            let schema = client.create_block_schema(&create).await?;
            Ok((block_type, schema))
        }
    }

    /// Saves this value as the document `name` on the configured server (registering the type
    /// first); a name already in use is [`Error::BlockNameTaken`].
    fn save(&self, name: &str) -> impl Future<Output = crate::Result<BlockDocument>> + Send {
        async move {
            self.save_with(&configured_client().await?, name, false)
                .await
        }
    }

    /// Saves this value as the document `name` through `client`, replacing an existing one when
    /// `overwrite`.
    fn save_with(
        &self,
        client: &Client,
        name: &str,
        overwrite: bool,
    ) -> impl Future<Output = crate::Result<BlockDocument>> + Send {
        async move {
            let (block_type, schema) = Self::register(client).await?;
            let data = match serde_json::to_value(self) {
                Ok(Value::Object(data)) => data,
                Ok(_) | Err(_) => {
                    return Err(Error::BlockData {
                        block: format!("{}/{name}", Self::block_type_slug()),
                        message: "a block serializes to a JSON object".into(),
                    })
                }
            };
            let create = BlockDocumentCreate {
                name: Some(name.to_owned()),
                data: data.clone(),
                block_schema_id: schema.id,
                block_type_id: block_type.id,
                is_anonymous: false,
            };
            match client.create_block_document(&create).await {
                Ok(document) => Ok(document),
                Err(err) if err.status().is_some_and(|s| s.as_u16() == 409) => {
                    if !overwrite {
                        return Err(Error::BlockNameTaken {
                            block: format!("{}/{name}", Self::block_type_slug()),
                        });
                    }
                    let existing = client
                        .read_block_document_by_name(Self::block_type_slug(), name, false)
                        .await?;
                    let update = BlockDocumentUpdate {
                        block_schema_id: Some(schema.id),
                        data: Some(data),
                        merge_existing_data: false,
                    };
                    client.update_block_document(existing.id, &update).await?;
                    Ok(client.read_block_document(existing.id, false).await?)
                }
                Err(err) => Err(err.into()),
            }
        }
    }

    /// Loads the document `name` from the configured server, secrets included.
    fn load(name: &str) -> impl Future<Output = crate::Result<Self>> + Send {
        async move { Self::load_with(&configured_client().await?, name).await }
    }

    /// Loads the document `name` through `client`, secrets included.
    fn load_with(client: &Client, name: &str) -> impl Future<Output = crate::Result<Self>> + Send {
        async move {
            let document = client
                .read_block_document_by_name(Self::block_type_slug(), name, true)
                .await?;
            serde_json::from_value(Value::Object(document.data)).map_err(|err| Error::BlockData {
                block: format!("{}/{name}", Self::block_type_slug()),
                message: err.to_string(),
            })
        }
    }
}

/// A client of the server flows report to (see [`crate::with_api`]).
async fn configured_client() -> crate::Result<Client> {
    let config = ApiConfig::resolve().await?;
    Ok(Client::new(&config.url, config.auth))
}
