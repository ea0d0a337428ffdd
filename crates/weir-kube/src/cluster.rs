//! Reaching a cluster: a `KubernetesClusterConfig` block's kubeconfig, else the in-cluster
//! service account, else the default kubeconfig.

use serde_json::Value;

/// Why no client could be made for a cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster_config: {0}")]
    BlockConfig(String),
    #[error("no Kubernetes cluster configured: {0}")]
    NoConfig(String),
}

/// A client for the cluster `cluster_config` describes, or the ambient one.
pub async fn connect(cluster_config: Option<&Value>) -> Result<kube::Client, ClusterError> {
    let config = match cluster_config {
        Some(block) => {
            let kubeconfig = block
                .get("config")
                .cloned()
                .ok_or_else(|| ClusterError::BlockConfig("has no config".into()))?;
            let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(kubeconfig)
                .map_err(|e| ClusterError::BlockConfig(e.to_string()))?;
            let options = kube::config::KubeConfigOptions {
                context: block
                    .get("context_name")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| ClusterError::BlockConfig(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| ClusterError::NoConfig(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| ClusterError::NoConfig(e.to_string()))
}

/// A key naming the cluster `cluster_config` reaches, to share one observer per cluster.
pub fn cluster_key(cluster_config: Option<&Value>) -> String {
    match cluster_config {
        None => "default".into(),
        Some(block) => {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            block.to_string().hash(&mut hasher);
            format!("block-{:016x}", hasher.finish())
        }
    }
}
