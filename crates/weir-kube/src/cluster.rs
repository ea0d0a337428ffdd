//! Reaching a Kubernetes cluster: which kubeconfig or service account a client is built from.
//!
//! The order is Prefect's (prefect-kubernetes' worker and `KubernetesCredentials`): a
//! `KubernetesClusterConfig` block's data when one is given, else the pod's service account when
//! the process runs in a cluster, else the kubeconfig named by `KUBECONFIG` or `~/.kube/config`.
//! A block that is given but broken is an error, never a silent fall-back to another cluster.
//!
//! [`cluster_key`] names the cluster a configuration reaches, so callers can share one client or
//! watcher per cluster; it never contains a credential verbatim.
//!
//! This module builds clients; it makes no API call.

use std::path::{Path, PathBuf};

use kube::config::{InClusterError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The cluster config is not shaped like a `KubernetesClusterConfig` block's data.
    #[error("invalid Kubernetes cluster config: {0}")]
    InvalidBlock(String),
    /// The kubeconfig could not be read or parsed.
    #[error("invalid kubeconfig: {}", first_line(.0))]
    Kubeconfig(#[source] KubeconfigError),
    /// The named context is not in the kubeconfig.
    #[error("context {context:?} is not in the kubeconfig; available contexts: {}", list(.available))]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// The contexts the kubeconfig has.
        available: Vec<String>,
    },
    /// No context was named and the kubeconfig has no `current-context`.
    #[error("no context named and the kubeconfig has no current-context; available contexts: {}", list(.available))]
    NoContext {
        /// The contexts the kubeconfig has.
        available: Vec<String>,
    },
    /// The process looks like it runs in a pod but its service account cannot be used.
    #[error("in-cluster configuration failed: {0}")]
    InCluster(#[source] InClusterError),
    /// The configuration was read but no client could be built from it.
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// None of the sources applied.
    #[error("no Kubernetes cluster configured: {}", .tried.join("; "))]
    NotConfigured {
        /// Why each source did not apply.
        tried: Vec<String>,
    },
}

/// The first line of an error's message (YAML parse errors append a multi-line excerpt).
fn first_line(error: &dyn std::fmt::Display) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// One place a client's configuration can come from, tried in the order given to
/// [`connect_with`].
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A `KubernetesClusterConfig` block's data: `{"config": <kubeconfig>, "context_name": "..."}`,
    /// where the kubeconfig is a JSON object or a YAML/JSON string. Always final: a broken block is
    /// an error, not a reason to try the next source.
    Block(&'a Value),
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT` and the token, CA and
    /// namespace files of [`service_account_dir`]); skipped when those variables are unset.
    InCluster,
    /// The kubeconfig named by `KUBECONFIG`, else `~/.kube/config`; skipped when neither exists.
    DefaultKubeconfig,
    /// The kubeconfig at this path (its current context); skipped when the file does not exist.
    KubeconfigFile(&'a Path),
}

/// A client for the cluster of `cluster_config` (a `KubernetesClusterConfig` block's data), else
/// of the in-cluster service account, else of the default kubeconfig.
pub async fn connect(cluster_config: Option<&Value>) -> Result<kube::Client, ClusterError> {
    match cluster_config {
        Some(block) if !block.is_null() => connect_with(&[Source::Block(block)]).await,
        _ => connect_with(&[Source::InCluster, Source::DefaultKubeconfig]).await,
    }
}

/// A client from the first of `sources` that applies (see [`Source`] for when each applies).
pub async fn connect_with(sources: &[Source<'_>]) -> Result<kube::Client, ClusterError> {
    let mut tried = Vec::new();
    for source in sources {
        let config = match source {
            Source::Block(block) => {
                let (kubeconfig, context) = block_kubeconfig(block)?;
                Some(from_kubeconfig(kubeconfig, Some(context)).await?)
            }
            Source::InCluster => match incluster_config(
                std::env::var("KUBERNETES_SERVICE_HOST"),
                std::env::var("KUBERNETES_SERVICE_PORT"),
                &service_account_dir(),
            ) {
                Ok(config) => Some(config),
                Err(InClusterError::ReadEnvironmentVariable(std::env::VarError::NotPresent)) => {
                    tried.push(
                        "not running in a cluster (KUBERNETES_SERVICE_HOST or _PORT is unset)"
                            .into(),
                    );
                    None
                }
                Err(err) => return Err(ClusterError::InCluster(err)),
            },
            Source::DefaultKubeconfig => match default_kubeconfig()? {
                Some(kubeconfig) => Some(from_kubeconfig(kubeconfig, None).await?),
                None => {
                    tried.push("no kubeconfig found (KUBECONFIG is unset and ~/.kube/config does not exist)".into());
                    None
                }
            },
            Source::KubeconfigFile(path) => {
                if path.exists() {
                    let kubeconfig =
                        Kubeconfig::read_from(path).map_err(ClusterError::Kubeconfig)?;
                    Some(from_kubeconfig(kubeconfig, None).await?)
                } else {
                    tried.push(format!("no kubeconfig at {}", path.display()));
                    None
                }
            }
        };
        if let Some(config) = config {
            return kube::Client::try_from(config).map_err(ClusterError::Client);
        }
    }
    if tried.is_empty() {
        tried.push("no source given".into());
    }
    Err(ClusterError::NotConfigured { tried })
}

/// Where the kubelet mounts a pod's service-account files.
pub const SERVICE_ACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The folder of the pod's service-account files: `WEIR_KUBERNETES_SERVICE_ACCOUNT_DIR` when set
/// (a process that cannot have the standard mount, such as a pod the simulator runs locally),
/// else [`SERVICE_ACCOUNT_PATH`].
pub fn service_account_dir() -> PathBuf {
    std::env::var_os(weir_core::env::WEIR_KUBERNETES_SERVICE_ACCOUNT_DIR)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_PATH))
}

/// An in-cluster configuration, as kube's `Config::incluster` builds it but from the files of
/// `dir`: the API server at `https://<host>:<port>` (the values of `KUBERNETES_SERVICE_HOST` and
/// `_PORT`), the `token` file (re-read as the kubelet rotates it), the `ca.crt` bundle and the
/// `namespace` file as the default namespace.
fn incluster_config(
    host: Result<String, std::env::VarError>,
    port: Result<String, std::env::VarError>,
    dir: &Path,
) -> Result<kube::Config, InClusterError> {
    let host = host.map_err(InClusterError::ReadEnvironmentVariable)?;
    let port: u16 = port
        .map_err(InClusterError::ReadEnvironmentVariable)?
        .parse()
        .map_err(InClusterError::ParseClusterPort)?;
    let authority = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{host}:{port}"),
    };
    let cluster_url = format!("https://{authority}")
        .parse()
        .map_err(InClusterError::ParseClusterUrl)?;
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .map_err(InClusterError::ReadDefaultNamespace)?;
    let ca_file = dir.join("ca.crt");
    let ca = std::fs::read(&ca_file).map_err(InClusterError::ReadCertificateBundle)?;
    let certificates = pem::parse_many(ca)
        .map_err(InClusterError::ParseCertificates)?
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    let mut config = kube::Config::new(cluster_url);
    config.default_namespace = namespace.trim().to_string();
    config.root_cert = Some(certificates);
    config.root_cert_file = Some(ca_file);
    config.auth_info.token_file = Some(dir.join("token").display().to_string());
    Ok(config)
}

/// The kubeconfig of `KUBECONFIG` (which may list several files, merged), else of
/// `~/.kube/config`; `None` when there is none.
fn default_kubeconfig() -> Result<Option<Kubeconfig>, ClusterError> {
    if let Some(kubeconfig) = Kubeconfig::from_env().map_err(ClusterError::Kubeconfig)? {
        return Ok(Some(kubeconfig));
    }
    match home_kubeconfig() {
        Some(path) if path.exists() => Kubeconfig::read_from(&path)
            .map(Some)
            .map_err(ClusterError::Kubeconfig),
        _ => Ok(None),
    }
}

fn home_kubeconfig() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
    Some(PathBuf::from(home).join(".kube").join("config"))
}

/// A client configuration from `kubeconfig` and `context` (its current context when `None`),
/// checking first that the context exists so the error can list the ones that do.
async fn from_kubeconfig(
    kubeconfig: Kubeconfig,
    context: Option<String>,
) -> Result<kube::Config, ClusterError> {
    let available: Vec<String> = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
    let context = match context.or_else(|| kubeconfig.current_context.clone()) {
        Some(context) if !context.is_empty() => context,
        _ => return Err(ClusterError::NoContext { available }),
    };
    if !available.contains(&context) {
        return Err(ClusterError::UnknownContext { context, available });
    }
    let options = KubeConfigOptions {
        context: Some(context),
        ..KubeConfigOptions::default()
    };
    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(ClusterError::Kubeconfig)
}

/// The kubeconfig and context of a block's data. A missing or empty `context_name` means the
/// kubeconfig's current context.
fn block_kubeconfig(block: &Value) -> Result<(Kubeconfig, String), ClusterError> {
    let Some(fields) = block.as_object() else {
        return Err(ClusterError::InvalidBlock(
            "expected a JSON object with `config` and `context_name`".into(),
        ));
    };
    let kubeconfig = match fields.get("config") {
        Some(Value::Object(_)) => serde_json::from_value::<Kubeconfig>(fields["config"].clone())
            .map_err(|err| {
                ClusterError::InvalidBlock(format!("`config` is not a kubeconfig: {err}"))
            })?,
        Some(Value::String(text)) => {
            Kubeconfig::from_yaml(text).map_err(ClusterError::Kubeconfig)?
        }
        Some(_) => {
            return Err(ClusterError::InvalidBlock(
                "`config` must be a kubeconfig as an object or a YAML string".into(),
            ))
        }
        None => return Err(ClusterError::InvalidBlock("`config` is missing".into())),
    };
    let context = match fields.get("context_name") {
        Some(Value::String(name)) if !name.is_empty() => Some(name.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(_) => {
            return Err(ClusterError::InvalidBlock(
                "`context_name` must be a string".into(),
            ))
        }
    };
    let available: Vec<String> = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
    match context.or_else(|| kubeconfig.current_context.clone()) {
        Some(context) if !context.is_empty() => Ok((kubeconfig, context)),
        _ => Err(ClusterError::NoContext { available }),
    }
}

/// A stable name for the cluster and context `cluster_config` reaches: equal configurations get
/// equal keys. For a block it reads `<context>@<server>#<hash>`, the hash (SHA-256, 16 hex
/// digits) covering the whole block, credentials included, so two users of one cluster get
/// different keys without either credential appearing in the key. Without a block (or with one
/// that cannot be read) the key is `ambient` (in-cluster or default kubeconfig, fixed for the
/// process) or `unreadable#<hash>`.
pub fn cluster_key(cluster_config: Option<&Value>) -> String {
    let block = match cluster_config {
        Some(block) if !block.is_null() => block,
        _ => return "ambient".to_string(),
    };
    let mut canonical = String::new();
    write_canonical(block, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let Ok((kubeconfig, context)) = block_kubeconfig(block) else {
        return format!("unreadable#{hash}");
    };
    let server = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| {
            kubeconfig
                .clusters
                .iter()
                .find(|cluster| cluster.name == c.cluster)
        })
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default();
    format!("{context}@{server}#{hash}")
}

/// JSON with object keys sorted at every level, so the hash does not depend on key order.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kubeconfig(server: &str, token: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "contexts": [
                {"name": "ctx", "context": {"cluster": "c", "user": "u"}},
                {"name": "other", "context": {"cluster": "c", "user": "u"}}
            ],
            "current-context": "ctx",
            "users": [{"name": "u", "user": {"token": token}}]
        })
    }

    #[test]
    fn cluster_key_names_context_and_server_and_hides_the_token() {
        let block =
            json!({"config": kubeconfig("https://10.0.0.1:6443", "s3cret"), "context_name": "ctx"});
        let key = cluster_key(Some(&block));
        assert!(key.starts_with("ctx@https://10.0.0.1:6443#"), "{key}");
        assert!(!key.contains("s3cret"));
        // Key order does not matter; a different token or context does.
        let reordered =
            json!({"context_name": "ctx", "config": kubeconfig("https://10.0.0.1:6443", "s3cret")});
        assert_eq!(cluster_key(Some(&reordered)), key);
        let other_token =
            json!({"config": kubeconfig("https://10.0.0.1:6443", "t2"), "context_name": "ctx"});
        assert_ne!(cluster_key(Some(&other_token)), key);
        let other_context = json!({"config": kubeconfig("https://10.0.0.1:6443", "s3cret"), "context_name": "other"});
        assert!(cluster_key(Some(&other_context)).starts_with("other@"));
        assert_eq!(cluster_key(None), "ambient");
        assert_eq!(cluster_key(Some(&Value::Null)), "ambient");
        assert!(cluster_key(Some(&json!(42))).starts_with("unreadable#"));
    }

    #[test]
    fn a_block_without_context_name_uses_the_current_context() {
        let block = json!({"config": kubeconfig("https://k:6443", "t")});
        let (_, context) = block_kubeconfig(&block).unwrap();
        assert_eq!(context, "ctx");
    }

    #[tokio::test]
    async fn malformed_blocks_are_one_line_errors() {
        for (block, expected) in [
            (json!("text"), "expected a JSON object"),
            (json!({"context_name": "x"}), "`config` is missing"),
            (json!({"config": 3}), "`config` must be a kubeconfig"),
            (
                json!({"config": {"clusters": 3}}),
                "`config` is not a kubeconfig",
            ),
            (
                json!({"config": {}, "context_name": 3}),
                "`context_name` must be a string",
            ),
            (json!({"config": {}}), "no context named"),
            (json!({"config": "clusters: [\n"}), "invalid kubeconfig"),
        ] {
            let err = connect(Some(&block)).await.err().unwrap().to_string();
            assert!(err.contains(expected), "{block}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn the_in_cluster_config_comes_from_the_service_account_folder() {
        let dir = std::env::temp_dir().join(format!("weir-sa-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let set = |v: &str| Ok(v.to_string());
        // Each file is required, and read from the folder given.
        let err = incluster_config(set("10.0.0.1"), set("6443"), &dir).unwrap_err();
        assert!(
            matches!(err, InClusterError::ReadDefaultNamespace(_)),
            "{err}"
        );
        std::fs::write(dir.join("namespace"), "weir-workers\n").unwrap();
        let err = incluster_config(set("10.0.0.1"), set("6443"), &dir).unwrap_err();
        assert!(
            matches!(err, InClusterError::ReadCertificateBundle(_)),
            "{err}"
        );
        let der = b"not really DER, but PEM-framed";
        let ca = pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
        std::fs::write(dir.join("ca.crt"), ca).unwrap();
        std::fs::write(dir.join("token"), "sa-token").unwrap();

        let config = incluster_config(set("10.0.0.1"), set("6443"), &dir).unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://10.0.0.1:6443/");
        assert_eq!(config.default_namespace, "weir-workers");
        assert_eq!(config.root_cert, Some(vec![der.to_vec()]));
        assert_eq!(config.root_cert_file, Some(dir.join("ca.crt")));
        assert_eq!(
            config.auth_info.token_file,
            Some(dir.join("token").display().to_string())
        );
        let v6 = incluster_config(set("fd00::1"), set("443"), &dir).unwrap();
        assert_eq!(v6.cluster_url.to_string(), "https://[fd00::1]:443/");
        let named = incluster_config(set("kubernetes.default.svc"), set("443"), &dir).unwrap();
        assert_eq!(named.cluster_url.host(), Some("kubernetes.default.svc"));

        // Outside a cluster the variables are unset, which `connect_with` reports as skipped.
        let unset = incluster_config(Err(std::env::VarError::NotPresent), set("1"), &dir);
        assert!(matches!(
            unset,
            Err(InClusterError::ReadEnvironmentVariable(
                std::env::VarError::NotPresent
            ))
        ));
        let err = incluster_config(set("h"), set("https"), &dir).unwrap_err();
        assert!(matches!(err, InClusterError::ParseClusterPort(_)), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn no_source_applying_says_what_was_tried() {
        let missing = Path::new("/nonexistent/weir/kubeconfig");
        let err = connect_with(&[Source::KubeconfigFile(missing)])
            .await
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "no Kubernetes cluster configured: no kubeconfig at /nonexistent/weir/kubeconfig"
        );
    }
}
