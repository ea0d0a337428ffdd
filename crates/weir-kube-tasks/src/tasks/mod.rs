//! Weir tasks for Kubernetes objects in a namespace, named as prefect-kubernetes names them.
//!
//! Each task takes the [`KubernetesCredentials`] first and builds its client from them (a
//! cluster config block, else the service account, else the default kubeconfig), so a task run is
//! self-contained and can be retried. Creates and replaces take typed objects (`k8s_openapi`);
//! patches are JSON merge patches; lists take kube's [`ListParams`] (label and field selectors).
//!
//! Arguments are owned, so every task has a same-named struct with `with_options()`:
//!
//! ```no_run
//! use weir_kube_tasks::tasks::jobs::read_namespaced_job;
//! use weir_kube_tasks::KubernetesCredentials;
//!
//! # async fn demo() -> weir_kube_tasks::Result<()> {
//! let job = read_namespaced_job::with_options()
//!     .retries(3)
//!     .retry_delay_seconds([1.0])
//!     .call((KubernetesCredentials::default(), "nightly".into(), "default".into()))
//!     .await?;
//! # let _ = job; Ok(()) }
//! ```

pub mod custom_objects;
pub mod deployments;
pub mod jobs;
pub mod pods;
pub mod services;

use kube::api::Api;
use kube::core::NamespaceResourceScope;
use kube::Resource;
use serde::{Deserialize, Serialize};

pub use kube::api::{DeleteParams, ListParams, ObjectList};
pub use kube::core::Status;

use crate::credentials::KubernetesCredentials;
use crate::error::Result;

/// What a delete answered: the object is gone, or is still there being deleted (it has
/// finalizers, or dependents deleted first under foreground propagation).
// `K` is a whole object (a Job or Pod is larger than a Status); clippy measures it as empty.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Deleted<K> {
    /// Deleted; the API server's status.
    Gone(Status),
    /// Marked for deletion; the object as it is now.
    Deleting(K),
}

impl<K> Deleted<K> {
    /// Whether the object still exists (marked for deletion).
    pub fn is_pending(&self) -> bool {
        matches!(self, Deleted::Deleting(_))
    }
}

/// The API of `K` in `namespace`, through a client from `credentials`.
pub(crate) async fn api<K>(credentials: &KubernetesCredentials, namespace: &str) -> Result<Api<K>>
where
    K: Resource<Scope = NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    Ok(Api::namespaced(credentials.client().await?, namespace))
}

/// Generates the list, read, create, patch, replace and delete tasks of one namespaced kind.
macro_rules! namespaced_tasks {
    (
        kind: $kind:ty,
        noun: $noun:literal,
        list: $list:ident,
        read: $read:ident,
        create: $create:ident ($new:ident),
        patch: $patch:ident ($name:ident, $updates:ident),
        replace: $replace:ident,
        delete: $delete:ident $(,)?
    ) => {
        #[::weir_sdk::task]
        #[doc = concat!("Lists the ", $noun, "s in `namespace` that `list_params` selects.")]
        pub async fn $list(
            credentials: $crate::KubernetesCredentials,
            namespace: String,
            list_params: $crate::tasks::ListParams,
        ) -> $crate::Result<$crate::tasks::ObjectList<$kind>> {
            let api = $crate::tasks::api::<$kind>(&credentials, &namespace).await?;
            Ok(api.list(&list_params).await?)
        }

        #[::weir_sdk::task]
        #[doc = concat!("Reads the ", $noun, " `", stringify!($name), "` in `namespace`.")]
        pub async fn $read(
            credentials: $crate::KubernetesCredentials,
            $name: String,
            namespace: String,
        ) -> $crate::Result<$kind> {
            let api = $crate::tasks::api::<$kind>(&credentials, &namespace).await?;
            Ok(api.get(&$name).await?)
        }

        #[::weir_sdk::task]
        #[doc = concat!("Creates `", stringify!($new), "` in `namespace` and returns the ", $noun, " as stored.")]
        pub async fn $create(
            credentials: $crate::KubernetesCredentials,
            $new: $kind,
            namespace: String,
        ) -> $crate::Result<$kind> {
            let api = $crate::tasks::api::<$kind>(&credentials, &namespace).await?;
            Ok(api.create(&::kube::api::PostParams::default(), &$new).await?)
        }

        #[::weir_sdk::task]
        #[doc = concat!("Applies `", stringify!($updates), "` as a JSON merge patch to the ", $noun, " `", stringify!($name), "` in `namespace`.")]
        pub async fn $patch(
            credentials: $crate::KubernetesCredentials,
            $name: String,
            $updates: ::serde_json::Value,
            namespace: String,
        ) -> $crate::Result<$kind> {
            let api = $crate::tasks::api::<$kind>(&credentials, &namespace).await?;
            let patch = ::kube::api::Patch::Merge(&$updates);
            Ok(api.patch(&$name, &::kube::api::PatchParams::default(), &patch).await?)
        }

        #[::weir_sdk::task]
        #[doc = concat!("Replaces the ", $noun, " `", stringify!($name), "` in `namespace` with `", stringify!($new), "` (its `metadata.resourceVersion`, when set, must be current).")]
        pub async fn $replace(
            credentials: $crate::KubernetesCredentials,
            $name: String,
            $new: $kind,
            namespace: String,
        ) -> $crate::Result<$kind> {
            let api = $crate::tasks::api::<$kind>(&credentials, &namespace).await?;
            Ok(api.replace(&$name, &::kube::api::PostParams::default(), &$new).await?)
        }

        #[::weir_sdk::task]
        #[doc = concat!("Deletes the ", $noun, " `", stringify!($name), "` in `namespace` with `delete_params` (e.g. a propagation policy).")]
        pub async fn $delete(
            credentials: $crate::KubernetesCredentials,
            $name: String,
            namespace: String,
            delete_params: $crate::tasks::DeleteParams,
        ) -> $crate::Result<$crate::tasks::Deleted<$kind>> {
            let api = $crate::tasks::api::<$kind>(&credentials, &namespace).await?;
            let answer = api.delete(&$name, &delete_params).await?;
            Ok(answer.either($crate::tasks::Deleted::Deleting, $crate::tasks::Deleted::Gone))
        }
    };
}

pub(crate) use namespaced_tasks;
