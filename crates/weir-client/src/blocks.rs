//! Calls of the blocks API: block types, block schemas and block documents. The CLI registers
//! types and schemas and lists, inspects and deletes documents; the SDK and workers load
//! documents by type slug and name.

use crate::{segment, Client, Method, Result};
use serde_json::Value;
use uuid::Uuid;
use weir_core::blocks::{
    BlockDocument, BlockDocumentCreate, BlockDocumentUpdate, BlockSchema, BlockSchemaCreate,
    BlockType, BlockTypeCreate, BlockTypeUpdate,
};

impl Client {
    /// Creates a block type; a taken name or slug is a 409.
    pub async fn create_block_type(&self, create: &BlockTypeCreate) -> Result<BlockType> {
        let body = Self::to_json(create);
        self.call(Method::POST, "/block_types/", Some(&body)).await
    }

    /// Reads a block type by slug.
    pub async fn read_block_type_by_slug(&self, slug: &str) -> Result<BlockType> {
        let path = format!("/block_types/slug/{}", segment(slug));
        self.call(Method::GET, &path, None).await
    }

    /// Changes the descriptive fields of a block type that `update` names.
    pub async fn update_block_type(&self, id: Uuid, update: &BlockTypeUpdate) -> Result<()> {
        let body = Self::to_json(update);
        self.request(Method::PATCH, &format!("/block_types/{id}"), Some(&body))
            .await
            .map(|_| ())
    }

    /// Block types matching a filter body (`{"block_types": ..., "limit": ...}`), by name.
    pub async fn filter_block_types(&self, filter: &Value) -> Result<Vec<BlockType>> {
        self.call(Method::POST, "/block_types/filter", Some(filter))
            .await
    }

    /// Creates a block schema, or gets the existing one with the same checksum and version.
    pub async fn create_block_schema(&self, create: &BlockSchemaCreate) -> Result<BlockSchema> {
        let body = Self::to_json(create);
        self.call(Method::POST, "/block_schemas/", Some(&body))
            .await
    }

    /// Reads the newest block schema with a checksum (and version, if given).
    pub async fn read_block_schema_by_checksum(
        &self,
        checksum: &str,
        version: Option<&str>,
    ) -> Result<BlockSchema> {
        let mut path = format!("/block_schemas/checksum/{}", segment(checksum));
        if let Some(version) = version {
            path.push_str(&format!("?version={}", segment(version)));
        }
        self.call(Method::GET, &path, None).await
    }

    /// Creates a block document; a name taken within the type is a 409. The answer masks
    /// secrets.
    pub async fn create_block_document(
        &self,
        create: &BlockDocumentCreate,
    ) -> Result<BlockDocument> {
        let body = Self::to_json(create);
        self.call(Method::POST, "/block_documents/", Some(&body))
            .await
    }

    /// Reads a block document by id, with secret values when `include_secrets`.
    pub async fn read_block_document(
        &self,
        id: Uuid,
        include_secrets: bool,
    ) -> Result<BlockDocument> {
        let path = format!("/block_documents/{id}?include_secrets={include_secrets}");
        self.call(Method::GET, &path, None).await
    }

    /// Reads the document named `name` of the block type `type_slug`, with secret values when
    /// `include_secrets` (how blocks are loaded).
    pub async fn read_block_document_by_name(
        &self,
        type_slug: &str,
        name: &str,
        include_secrets: bool,
    ) -> Result<BlockDocument> {
        let path = format!(
            "/block_types/slug/{}/block_documents/name/{}?include_secrets={include_secrets}",
            segment(type_slug),
            segment(name)
        );
        self.call(Method::GET, &path, None).await
    }

    /// Block documents matching a filter body (`{"block_documents": ..., "block_types": ...,
    /// "sort": ..., "limit": ...}`).
    pub async fn filter_block_documents(&self, filter: &Value) -> Result<Vec<BlockDocument>> {
        self.call(Method::POST, "/block_documents/filter", Some(filter))
            .await
    }

    /// Updates a block document's data (merged unless `merge_existing_data` is false) or schema.
    pub async fn update_block_document(
        &self,
        id: Uuid,
        update: &BlockDocumentUpdate,
    ) -> Result<()> {
        let body = Self::to_json(update);
        self.request(
            Method::PATCH,
            &format!("/block_documents/{id}"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Deletes a block document.
    pub async fn delete_block_document(&self, id: Uuid) -> Result<()> {
        self.request(Method::DELETE, &format!("/block_documents/{id}"), None)
            .await
            .map(|_| ())
    }
}
