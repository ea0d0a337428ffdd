//! Tasks for core/v1 Services.

use k8s_openapi::api::core::v1::Service;

use crate::tasks::namespaced_tasks;

namespaced_tasks! {
    kind: Service,
    noun: "Service",
    list: list_namespaced_service,
    read: read_namespaced_service,
    create: create_namespaced_service(new_service),
    patch: patch_namespaced_service(service_name, service_updates),
    replace: replace_namespaced_service,
    delete: delete_namespaced_service,
}
