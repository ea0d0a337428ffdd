//! The `KubernetesClusterConfig` and `KubernetesCredentials` blocks: how to reach a cluster, with
//! Prefect's field names, loaded from the server's block documents.

use std::path::Path;

use kube::config::Kubeconfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_client::Method;
use weir_sdk::ApiConfig;

use crate::error::{KubeTaskError, Result};

/// A whole kubeconfig and the context to use from it (Prefect's "Kubernetes Cluster Config"
/// block, slug `kubernetes-cluster-config`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KubernetesClusterConfig {
    /// The kubeconfig, as a JSON object (a YAML or JSON string is accepted too).
    pub config: Value,
    /// The context to use; empty means the kubeconfig's current context.
    #[serde(default)]
    pub context_name: String,
}

impl KubernetesClusterConfig {
    /// The block type's slug on the server.
    pub const BLOCK_TYPE_SLUG: &'static str = "kubernetes-cluster-config";

    /// The kubeconfig at `path` (else `KUBECONFIG`'s files, else `~/.kube/config`), with
    /// `context_name` (else its current context), checked to exist.
    pub fn from_file(path: Option<&Path>, context_name: Option<&str>) -> Result<Self> {
        let kubeconfig = match path {
            Some(path) => Kubeconfig::read_from(path),
            None => Kubeconfig::read(),
        }
        .map_err(|err| KubeTaskError::Cluster(weir_kube::cluster::ClusterError::Kubeconfig(err)))?;
        let context = context_name
            .map(str::to_string)
            .or_else(|| kubeconfig.current_context.clone())
            .unwrap_or_default();
        let available: Vec<String> = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
        if !available.contains(&context) {
            let error = if context.is_empty() {
                weir_kube::cluster::ClusterError::NoContext { available }
            } else {
                weir_kube::cluster::ClusterError::UnknownContext { context, available }
            };
            return Err(KubeTaskError::Cluster(error));
        }
        let config = serde_json::to_value(&kubeconfig)
            .map_err(|err| KubeTaskError::InvalidManifest(format!("kubeconfig: {err}")))?;
        Ok(KubernetesClusterConfig {
            config,
            context_name: context,
        })
    }

    /// The block document `name`, from the server named by `WEIR_API_URL` or `PREFECT_API_URL`.
    pub async fn load(name: &str) -> Result<Self> {
        let api =
            ApiConfig::from_env().ok_or_else(|| KubeTaskError::NoApi { name: name.into() })?;
        Self::load_from(&api, name).await
    }

    /// The block document `name`, from the server `api`.
    pub async fn load_from(api: &ApiConfig, name: &str) -> Result<Self> {
        load_block(api, Self::BLOCK_TYPE_SLUG, name).await
    }

    /// A client for this cluster and context.
    pub async fn client(&self) -> Result<kube::Client> {
        let data = serde_json::to_value(self)
            .map_err(|err| KubeTaskError::InvalidManifest(format!("cluster config: {err}")))?;
        Ok(weir_kube::cluster::connect(Some(&data)).await?)
    }
}

/// How to reach a cluster (Prefect's "Kubernetes Credentials" block, slug
/// `kubernetes-credentials`): a cluster config, or none for the pod's service account, else the
/// default kubeconfig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KubernetesCredentials {
    /// The cluster to reach; `None` for the service account or the default kubeconfig.
    #[serde(default)]
    pub cluster_config: Option<KubernetesClusterConfig>,
}

impl KubernetesCredentials {
    /// The block type's slug on the server.
    pub const BLOCK_TYPE_SLUG: &'static str = "kubernetes-credentials";

    /// Credentials for `cluster_config`.
    pub fn new(cluster_config: KubernetesClusterConfig) -> Self {
        KubernetesCredentials {
            cluster_config: Some(cluster_config),
        }
    }

    /// A client: from the cluster config, else the in-cluster service account, else the default
    /// kubeconfig (`KUBECONFIG`, `~/.kube/config`).
    pub async fn client(&self) -> Result<kube::Client> {
        match &self.cluster_config {
            Some(config) => config.client().await,
            None => Ok(weir_kube::cluster::connect(None).await?),
        }
    }

    /// The block document `name`, from the server named by `WEIR_API_URL` or `PREFECT_API_URL`.
    pub async fn load(name: &str) -> Result<Self> {
        let api =
            ApiConfig::from_env().ok_or_else(|| KubeTaskError::NoApi { name: name.into() })?;
        Self::load_from(&api, name).await
    }

    /// The block document `name`, from the server `api`.
    pub async fn load_from(api: &ApiConfig, name: &str) -> Result<Self> {
        load_block(api, Self::BLOCK_TYPE_SLUG, name).await
    }
}

/// Reads a block document by type and name, with its secrets, and its `data` as `T`.
async fn load_block<T: serde::de::DeserializeOwned>(
    api: &ApiConfig,
    slug: &'static str,
    name: &str,
) -> Result<T> {
    let client = weir_client::Client::new(&api.url, api.auth.clone());
    let (_, document) = client
        .request(Method::GET, &block_document_path(slug, name), None)
        .await
        .map_err(|source| KubeTaskError::LoadBlock {
            slug,
            name: name.to_string(),
            source: Box::new(source),
        })?;
    block_data(slug, name, document)
}

/// The API path of block document `name` of block type `slug`, secrets included.
pub(crate) fn block_document_path(slug: &str, name: &str) -> String {
    format!(
        "/block_types/slug/{}/block_documents/name/{}?include_secrets=true",
        segment(slug),
        segment(name)
    )
}

/// A block document's `data` (nested blocks already inlined by the server) as `T`.
pub(crate) fn block_data<T: serde::de::DeserializeOwned>(
    slug: &'static str,
    name: &str,
    mut document: Value,
) -> Result<T> {
    let data = match document.get_mut("data") {
        Some(data) => data.take(),
        None => {
            return Err(KubeTaskError::BlockData {
                slug,
                name: name.to_string(),
                message: "the block document has no `data`".into(),
            })
        }
    };
    serde_json::from_value(data).map_err(|err| KubeTaskError::BlockData {
        slug,
        name: name.to_string(),
        message: err.to_string(),
    })
}

/// `text` percent-encoded as one path segment.
fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_paths_encode_the_name_as_one_segment() {
        assert_eq!(
            block_document_path("kubernetes-credentials", "my-k8s-creds"),
            "/block_types/slug/kubernetes-credentials/block_documents/name/my-k8s-creds?include_secrets=true"
        );
        assert_eq!(
            block_document_path("kubernetes-cluster-config", "a b/c?"),
            "/block_types/slug/kubernetes-cluster-config/block_documents/name/a%20b%2Fc%3F?include_secrets=true"
        );
    }

    /// The shape Prefect 3.9.1's server answers for a credentials block whose cluster config is a
    /// nested block document: the nested data is inlined under `data`.
    #[test]
    fn credentials_read_from_a_block_document() {
        let kubeconfig = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "ctx",
            "users": [{"name": "u", "user": {"token": "abc"}}]
        });
        let document = json!({
            "id": "868018c6-3973-4c41-ab40-c694caf17662",
            "name": "my-k8s-creds",
            "data": {"cluster_config": {"config": kubeconfig, "context_name": "ctx"}},
            "block_type_name": "Kubernetes Credentials",
            "block_document_references": {"cluster_config": {"block_document": {"name": "my-cluster"}}}
        });
        let credentials: KubernetesCredentials =
            block_data("kubernetes-credentials", "my-k8s-creds", document).unwrap();
        let cluster = credentials.cluster_config.unwrap();
        assert_eq!(cluster.context_name, "ctx");
        assert_eq!(cluster.config, kubeconfig);

        let ambient: KubernetesCredentials = block_data(
            "kubernetes-credentials",
            "x",
            json!({"data": {"cluster_config": null}}),
        )
        .unwrap();
        assert_eq!(ambient, KubernetesCredentials::default());
    }

    #[test]
    fn a_document_without_the_fields_is_a_readable_error() {
        let err = block_data::<KubernetesClusterConfig>(
            "kubernetes-cluster-config",
            "c",
            json!({"data": {"context_name": "x"}}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "kubernetes-cluster-config block \"c\" has unexpected data: missing field `config`"
        );
        let err =
            block_data::<KubernetesCredentials>("kubernetes-credentials", "c", json!({"id": 1}))
                .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("the block document has no `data`"),
            "{err}"
        );
    }
}
