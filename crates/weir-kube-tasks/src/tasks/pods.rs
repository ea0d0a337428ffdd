//! Tasks for core/v1 Pods and their logs.

use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;

use crate::tasks::namespaced_tasks;
use crate::{KubernetesCredentials, Result};

namespaced_tasks! {
    kind: Pod,
    noun: "Pod",
    list: list_namespaced_pod,
    read: read_namespaced_pod,
    create: create_namespaced_pod(new_pod),
    patch: patch_namespaced_pod(pod_name, pod_updates),
    replace: replace_namespaced_pod,
    delete: delete_namespaced_pod,
}

/// The log of `container` (the pod's only container when `None`) of pod `pod_name` in
/// `namespace`, as it is now.
#[weir_sdk::task]
pub async fn read_namespaced_pod_log(
    credentials: KubernetesCredentials,
    pod_name: String,
    container: Option<String>,
    namespace: String,
) -> Result<String> {
    let api = crate::tasks::api::<Pod>(&credentials, &namespace).await?;
    let params = LogParams {
        container,
        ..LogParams::default()
    };
    Ok(api.logs(&pod_name, &params).await?)
}
