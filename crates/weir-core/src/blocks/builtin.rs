//! The block types and schemas every Weir server registers at start: `secret` and the three
//! Kubernetes blocks of prefect-kubernetes 0.8.0 (`kubernetes-cluster-config`,
//! `kubernetes-credentials`, `k8s-job`).
//!
//! The schemas' `fields` are exactly what Prefect 3.9.1 and prefect-kubernetes 0.8.0 register
//! (`builtin_schemas.json`), so their checksums are the ones the Python client computes: `prefect
//! block register -m prefect_kubernetes` and `Block.load` find them instead of registering
//! duplicates. Only `secret` is protected (it cannot be deleted); a client may still update the
//! descriptive fields of any type, which `register` does when its texts differ.

use super::{BlockSchemaCreate, BlockTypeCreate};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// A block type Weir registers at start, with its schema.
#[derive(Clone, Debug)]
pub struct BuiltinBlock {
    pub block_type: BlockTypeCreate,
    pub is_protected: bool,
    pub fields: Map<String, Value>,
    pub version: String,
    pub capabilities: Vec<String>,
}

impl BuiltinBlock {
    /// The schema to register once the type has id `block_type_id`.
    pub fn schema(&self, block_type_id: Uuid) -> BlockSchemaCreate {
        BlockSchemaCreate {
            fields: self.fields.clone(),
            block_type_id,
            capabilities: self.capabilities.clone(),
            version: self.version.clone(),
        }
    }
}

#[derive(Deserialize)]
struct StoredSchema {
    fields: Map<String, Value>,
    version: String,
    capabilities: Vec<String>,
}

const SCHEMAS: &str = include_str!("builtin_schemas.json");

/// `(name, slug, description, code example, protected)` of each built-in type, in the order
/// `builtin_schemas.json` lists their schemas (a type comes after the types it nests).
const TYPES: [(&str, &str, &str, &str, bool); 4] = [
    (
        "Secret",
        "secret",
        "One secret value (a string or any JSON). Weir masks it in every answer unless secrets \
         are asked for.",
        "weir block inspect secret/BLOCK_NAME",
        true,
    ),
    (
        "Kubernetes Cluster Config",
        "kubernetes-cluster-config",
        "A kubeconfig (`config`) and the context of it to use (`context_name`).",
        "weir block inspect kubernetes-cluster-config/BLOCK_NAME",
        false,
    ),
    (
        "Kubernetes Credentials",
        "kubernetes-credentials",
        "How to reach a Kubernetes cluster: an optional nested Kubernetes Cluster Config; \
         without one, the in-cluster or local configuration applies.",
        "weir block inspect kubernetes-credentials/BLOCK_NAME",
        false,
    ),
    (
        "Kubernetes Job",
        "k8s-job",
        "A Kubernetes Job manifest (`v1_job`) with the namespace, credentials and polling \
         settings to run it with.",
        "weir block inspect k8s-job/BLOCK_NAME",
        false,
    ),
];

/// The built-in blocks, each after the ones its schema nests.
pub fn builtin_blocks() -> Vec<BuiltinBlock> {
    let schemas: Vec<StoredSchema> =
        serde_json::from_str(SCHEMAS).expect("builtin_schemas.json is valid (checked by a test)");
    TYPES
        .iter()
        .zip(schemas)
        .map(
            |(&(name, slug, description, code_example, is_protected), schema)| BuiltinBlock {
                block_type: BlockTypeCreate {
                    name: name.to_owned(),
                    slug: slug.to_owned(),
                    logo_url: None,
                    documentation_url: None,
                    description: Some(description.to_owned()),
                    code_example: Some(code_example.to_owned()),
                },
                is_protected,
                fields: schema.fields,
                version: schema.version,
                capabilities: schema.capabilities,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::schema_checksum;

    /// The checksums prefect 3.9.1 and prefect-kubernetes 0.8.0 compute for these schemas
    /// (`GET /block_schemas/checksum/...` in the captured `prefect block register` traffic).
    #[test]
    fn checksums_are_the_ones_the_python_client_computes() {
        let expected = [
            (
                "secret",
                "3.9.1",
                "sha256:c078ed9c1e813e224c0b353d7ad4564a11d51d3198d9ac0686478165a1911c78",
            ),
            (
                "kubernetes-cluster-config",
                "0.8.0",
                "sha256:1842dc8b213ef1595f75681856fae25aee4e0639a0ea867a41f90138edbd664d",
            ),
            (
                "kubernetes-credentials",
                "0.8.0",
                "sha256:b1e3f10baa42ba79ca4484824207ed351d043d032b2cc234242bb7bf81b6ce56",
            ),
            (
                "k8s-job",
                "0.8.0",
                "sha256:e2ed23a503643d86b37cc3207599b2625c03b7c7ba0198de4ce2aed9e7622b00",
            ),
        ];
        let blocks = builtin_blocks();
        assert_eq!(blocks.len(), expected.len());
        for (block, (slug, version, checksum)) in blocks.iter().zip(expected) {
            assert_eq!(block.block_type.slug, slug);
            assert_eq!(block.fields["block_type_slug"], slug);
            assert_eq!(block.version, version);
            assert_eq!(schema_checksum(&block.fields), checksum, "{slug}");
        }
        assert!(blocks[0].is_protected && !blocks[1].is_protected);
        assert_eq!(blocks[0].fields["secret_fields"][0], "value");
    }
}
