//! Tasks for `apps/v1` Deployments (Kubernetes Deployments, not Weir's).

use k8s_openapi::api::apps::v1::Deployment;

use crate::tasks::namespaced_tasks;

namespaced_tasks! {
    kind: Deployment,
    noun: "Deployment",
    list: list_namespaced_deployment,
    read: read_namespaced_deployment,
    create: create_namespaced_deployment(new_deployment),
    patch: patch_namespaced_deployment(deployment_name, deployment_updates),
    replace: replace_namespaced_deployment,
    delete: delete_namespaced_deployment,
}
