//! Weir on Kubernetes.
//!
//! A Kubernetes work pool's flow runs become `batch/v1` Jobs. This crate holds everything between a
//! rendered job configuration and a final flow-run state:
//!
//! - turning the rendered configuration into a Job manifest with Prefect's labels, env and names;
//! - reaching the cluster (a `KubernetesClusterConfig` block, else the in-cluster service account,
//!   else the kubeconfig);
//! - creating the Job idempotently, observing every Job and pod of the worker through one shared
//!   watcher, diagnosing pods that cannot start, enforcing start and run timeouts, and deleting Jobs
//!   on cancellation;
//! - checking at start that the worker's RBAC allows every call it makes.

pub mod cluster;
pub mod diagnosis;
pub mod infrastructure;
mod logs;
pub mod manifest;
pub mod observer;
pub mod preflight;
pub mod submit;
mod supervise;

pub use infrastructure::{KubernetesInfrastructure, KubernetesSettings, SecretKeyRef};
