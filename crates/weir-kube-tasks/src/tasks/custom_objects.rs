//! Tasks for objects of any namespaced kind, named by API group, version and plural (custom
//! resources, or built-in kinds without typed tasks). Bodies are JSON.

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;

use crate::error::KubeTaskError;
use crate::tasks::{DeleteParams, Deleted, ListParams, ObjectList};
use crate::{KubernetesCredentials, Result};

/// The API of `group`/`version`/`plural` in `namespace`.
async fn api(
    credentials: &KubernetesCredentials,
    group: &str,
    version: &str,
    plural: &str,
    namespace: &str,
) -> Result<Api<DynamicObject>> {
    let resource = ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        },
        // Requests are addressed by plural; the kind comes from the bodies.
        kind: String::new(),
        plural: plural.to_string(),
    };
    let client = credentials.client().await?;
    Ok(Api::namespaced_with(client, namespace, &resource))
}

fn object(body: Value) -> Result<DynamicObject> {
    serde_json::from_value(body)
        .map_err(|err| KubeTaskError::InvalidManifest(format!("not a Kubernetes object: {err}")))
}

/// Lists the `plural` objects of `group`/`version` in `namespace` that `list_params` selects.
#[weir_sdk::task]
pub async fn list_namespaced_custom_object(
    credentials: KubernetesCredentials,
    group: String,
    version: String,
    plural: String,
    namespace: String,
    list_params: ListParams,
) -> Result<ObjectList<DynamicObject>> {
    let api = api(&credentials, &group, &version, &plural, &namespace).await?;
    Ok(api.list(&list_params).await?)
}

/// Reads the `plural` object `name` of `group`/`version` in `namespace`.
#[weir_sdk::task]
pub async fn get_namespaced_custom_object(
    credentials: KubernetesCredentials,
    group: String,
    version: String,
    plural: String,
    name: String,
    namespace: String,
) -> Result<DynamicObject> {
    let api = api(&credentials, &group, &version, &plural, &namespace).await?;
    Ok(api.get(&name).await?)
}

/// Reads the `plural` object `name` of `group`/`version` in `namespace` through its `status`
/// subresource.
#[weir_sdk::task]
pub async fn get_namespaced_custom_object_status(
    credentials: KubernetesCredentials,
    group: String,
    version: String,
    plural: String,
    name: String,
    namespace: String,
) -> Result<DynamicObject> {
    let api = api(&credentials, &group, &version, &plural, &namespace).await?;
    Ok(api.get_status(&name).await?)
}

/// Creates `body` as a `plural` object of `group`/`version` in `namespace`.
#[weir_sdk::task]
pub async fn create_namespaced_custom_object(
    credentials: KubernetesCredentials,
    group: String,
    version: String,
    plural: String,
    body: Value,
    namespace: String,
) -> Result<DynamicObject> {
    let body = object(body)?;
    let api = api(&credentials, &group, &version, &plural, &namespace).await?;
    Ok(api.create(&PostParams::default(), &body).await?)
}

/// Applies `body` as a JSON merge patch to the `plural` object `name` of `group`/`version` in
/// `namespace`.
#[weir_sdk::task]
pub async fn patch_namespaced_custom_object(
    credentials: KubernetesCredentials,
    group: String,
    version: String,
    plural: String,
    name: String,
    body: Value,
    namespace: String,
) -> Result<DynamicObject> {
    let api = api(&credentials, &group, &version, &plural, &namespace).await?;
    Ok(api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
        .await?)
}

/// Replaces the `plural` object `name` of `group`/`version` in `namespace` with `body`.
#[weir_sdk::task]
pub async fn replace_namespaced_custom_object(
    credentials: KubernetesCredentials,
    group: String,
    version: String,
    plural: String,
    name: String,
    body: Value,
    namespace: String,
) -> Result<DynamicObject> {
    let body = object(body)?;
    let api = api(&credentials, &group, &version, &plural, &namespace).await?;
    Ok(api.replace(&name, &PostParams::default(), &body).await?)
}

/// Deletes the `plural` object `name` of `group`/`version` in `namespace`.
#[weir_sdk::task]
pub async fn delete_namespaced_custom_object(
    credentials: KubernetesCredentials,
    group: String,
    version: String,
    plural: String,
    name: String,
    namespace: String,
    delete_params: DeleteParams,
) -> Result<Deleted<DynamicObject>> {
    let api = api(&credentials, &group, &version, &plural, &namespace).await?;
    let answer = api.delete(&name, &delete_params).await?;
    Ok(answer.either(Deleted::Deleting, Deleted::Gone))
}
