//! The table of resource types the simulator serves.
//!
//! Routing, discovery, RBAC and field selectors all read this one table, so adding a resource here is
//! enough to make it storable, listable and watchable. It holds no state.

/// One REST resource type, such as `batch/v1` `jobs`.
#[derive(Debug)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Plural resource name used in URLs.
    pub plural: &'static str,
    /// Singular resource name, as discovery reports it.
    pub singular: &'static str,
    /// The object kind.
    pub kind: &'static str,
    /// Whether objects live inside a namespace.
    pub namespaced: bool,
    /// Short names for kubectl (`po`, `ns`).
    pub short_names: &'static [&'static str],
    /// Subresources served, such as `status` and `log`.
    pub subresources: &'static [&'static str],
    /// Field selector labels accepted besides `metadata.name` and `metadata.namespace`.
    pub fields: &'static [&'static str],
    /// Whether objects are stored; review resources are create-only and never stored.
    pub stored: bool,
}

impl ResourceType {
    /// `v1` or `batch/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `jobs.batch`, as error messages name the resource.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Pod` or `Job.batch`, as validation messages name the kind.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The kind of this resource's list objects.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether `status` changes go through a separate subresource.
    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }

    /// The verbs discovery advertises.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.stored {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        } else {
            &["create"]
        }
    }
}

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const EVENT_V1_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "reason",
    "reportingController",
    "type",
];

macro_rules! rt {
    ($group:expr, $version:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, $short:expr, $sub:expr, $fields:expr) => {
        ResourceType {
            group: $group,
            version: $version,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: $short,
            subresources: $sub,
            fields: $fields,
            stored: true,
        }
    };
}

/// Every resource type served, in discovery order.
pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &["status", "finalize"],
        &["status.phase"]
    ),
    rt!(
        "",
        "v1",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        &["status"],
        &["spec.unschedulable"]
    ),
    rt!(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        &["status", "log", "eviction"],
        POD_FIELDS
    ),
    rt!(
        "",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        &[],
        EVENT_FIELDS
    ),
    rt!(
        "",
        "v1",
        "secrets",
        "secret",
        "Secret",
        true,
        &[],
        &[],
        &["type"]
    ),
    rt!(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        &[],
        &[]
    ),
    rt!(
        "",
        "v1",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        &["status"],
        &[]
    ),
    rt!(
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
        &[]
    ),
    rt!(
        "batch",
        "v1",
        "jobs",
        "job",
        "Job",
        true,
        &[],
        &["status"],
        &["status.successful"]
    ),
    rt!(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        &["status"],
        &[]
    ),
    rt!(
        "events.k8s.io",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        &[],
        EVENT_V1_FIELDS
    ),
    rt!(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        &[],
        &[]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "role",
        "Role",
        true,
        &[],
        &[],
        &[]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
        &[],
        &[]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
        &[],
        &[]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        &[],
        &[]
    ),
    ResourceType {
        stored: false,
        ..rt!(
            "authentication.k8s.io",
            "v1",
            "selfsubjectreviews",
            "selfsubjectreview",
            "SelfSubjectReview",
            false,
            &[],
            &[],
            &[]
        )
    },
    ResourceType {
        stored: false,
        ..rt!(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            "SelfSubjectAccessReview",
            false,
            &[],
            &[],
            &[]
        )
    },
    ResourceType {
        stored: false,
        ..rt!(
            "authorization.k8s.io",
            "v1",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            "SelfSubjectRulesReview",
            false,
            &[],
            &[],
            &[]
        )
    },
];

/// Finds a resource type by group, version and plural name.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a resource type by group and plural name, in any version.
pub fn lookup_any_version(group: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Well-known resource types used by the controllers.
pub mod known {
    use super::{lookup, ResourceType};

    fn get(group: &str, plural: &str) -> &'static ResourceType {
        lookup(group, "v1", plural)
            .unwrap_or_else(|| unreachable!("{group}/{plural} is in RESOURCES"))
    }

    /// `v1` namespaces.
    pub fn namespaces() -> &'static ResourceType {
        get("", "namespaces")
    }
    /// `v1` nodes.
    pub fn nodes() -> &'static ResourceType {
        get("", "nodes")
    }
    /// `v1` pods.
    pub fn pods() -> &'static ResourceType {
        get("", "pods")
    }
    /// `v1` events.
    pub fn events() -> &'static ResourceType {
        get("", "events")
    }
    /// `v1` secrets.
    pub fn secrets() -> &'static ResourceType {
        get("", "secrets")
    }
    /// `v1` configmaps.
    pub fn configmaps() -> &'static ResourceType {
        get("", "configmaps")
    }
    /// `v1` serviceaccounts.
    pub fn serviceaccounts() -> &'static ResourceType {
        get("", "serviceaccounts")
    }
    /// `batch/v1` jobs.
    pub fn jobs() -> &'static ResourceType {
        get("batch", "jobs")
    }
    /// `rbac.authorization.k8s.io/v1` roles.
    pub fn roles() -> &'static ResourceType {
        get("rbac.authorization.k8s.io", "roles")
    }
    /// `rbac.authorization.k8s.io/v1` rolebindings.
    pub fn rolebindings() -> &'static ResourceType {
        get("rbac.authorization.k8s.io", "rolebindings")
    }
    /// `rbac.authorization.k8s.io/v1` clusterroles.
    pub fn clusterroles() -> &'static ResourceType {
        get("rbac.authorization.k8s.io", "clusterroles")
    }
    /// `rbac.authorization.k8s.io/v1` clusterrolebindings.
    pub fn clusterrolebindings() -> &'static ResourceType {
        get("rbac.authorization.k8s.io", "clusterrolebindings")
    }
}
