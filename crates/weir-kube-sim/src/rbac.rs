//! Authentication by bearer token and authorization by rule table.
//!
//! One function, [`authorize`], answers both real requests (a denial becomes a 403) and
//! SelfSubjectAccessReview/SelfSubjectRulesReview, so the two can never disagree. Rules come from the
//! static table given to the simulator per token and from the Role/RoleBinding and
//! ClusterRole/ClusterRoleBinding objects stored in the simulator.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::meta;
use crate::resources::known;
use crate::store::Store;

/// One policy rule, shaped like an RBAC `PolicyRule`, plus an optional namespace restriction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Verbs such as `get`, `list`, `watch`, `create`, `delete`, or `*`.
    pub verbs: Vec<String>,
    /// API groups; `""` is the core group, `*` any.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Resources such as `pods`, `pods/log`, `jobs`, or `*`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Object names; empty means any.
    #[serde(default)]
    pub resource_names: Vec<String>,
    /// Namespaces this rule applies in; empty means all (static rules only).
    #[serde(default)]
    pub namespaces: Vec<String>,
}

impl Rule {
    /// A rule allowing `verbs` on `resources` in `groups`, in every namespace.
    pub fn new(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Self {
        let own = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        Rule {
            verbs: own(verbs),
            api_groups: own(groups),
            resources: own(resources),
            resource_names: Vec::new(),
            namespaces: Vec::new(),
        }
    }

    /// Everything, everywhere.
    pub fn all() -> Self {
        Rule::new(&["*"], &["*"], &["*"])
    }

    /// Restricts the rule to `namespaces`.
    pub fn in_namespaces(mut self, namespaces: &[&str]) -> Self {
        self.namespaces = namespaces.iter().map(|s| s.to_string()).collect();
        self
    }

    fn matches(&self, a: &Attributes) -> bool {
        let any = |xs: &[String], want: &str| xs.iter().any(|x| x == "*" || x == want);
        let full = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || *r == full
                || (a.subresource.is_empty() && *r == a.resource)
                || (r.strip_prefix("*/") == Some(a.subresource.as_str())
                    && !a.subresource.is_empty())
        });
        any(&self.verbs, &a.verb)
            && any(&self.api_groups, &a.group)
            && resource_ok
            && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
            && (self.namespaces.is_empty() || self.namespaces.contains(&a.namespace))
    }
}

/// An authenticated identity and its static rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// User name, e.g. `admin` or `system:serviceaccount:weir:worker`.
    pub name: String,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Rules granted regardless of stored RBAC objects.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl User {
    /// A user with `rules`.
    pub fn new(name: &str, rules: Vec<Rule>) -> Self {
        User {
            name: name.to_string(),
            groups: vec!["system:authenticated".into()],
            rules,
        }
    }

    /// A user allowed everything.
    pub fn admin() -> Self {
        User {
            name: "admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            rules: vec![Rule::all()],
        }
    }
}

/// The token table.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    tokens: HashMap<String, User>,
    anonymous: Option<User>,
}

impl Rbac {
    /// Any request, with or without a token, is an admin. The default.
    pub fn open() -> Self {
        Rbac {
            tokens: HashMap::new(),
            anonymous: Some(User::admin()),
        }
    }

    /// Only the listed tokens are accepted; requests without one get 401.
    pub fn closed() -> Self {
        Rbac::default()
    }

    /// Treats requests without a token as `user`. kubectl (client-go) sends no credentials at all to
    /// an `http://` server, so this is how a loopback test gives kubectl an identity.
    pub fn with_anonymous(mut self, user: User) -> Self {
        self.anonymous = Some(user);
        self
    }

    /// Maps `token` to `user`.
    pub fn with_token(mut self, token: &str, user: User) -> Self {
        self.tokens.insert(token.to_string(), user);
        self
    }

    /// Who a request is, from its `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<User, ApiError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        match token {
            Some(t) => match self.tokens.get(t) {
                Some(u) => Ok(u.clone()),
                None if self.tokens.is_empty() => {
                    self.anonymous.clone().ok_or_else(ApiError::unauthorized)
                }
                None => Err(ApiError::unauthorized()),
            },
            None => self.anonymous.clone().ok_or_else(ApiError::unauthorized),
        }
    }
}

const BOUND_TOKEN_PREFIX: &str = "sim-sa.";

/// Service-account tokens the kubelet minted for pods, each valid while its pod exists, like the
/// bound tokens a kubelet mounts. They are checked before the token table, so a pod's token is
/// its service account even when the table lets everyone in.
#[derive(Default)]
pub(crate) struct BoundTokens {
    /// Token → (user, uid of the pod it is bound to).
    tokens: Mutex<HashMap<String, (User, String)>>,
}

impl BoundTokens {
    /// A new token for service account `name` in `namespace`, bound to the pod `pod_uid`.
    pub fn mint(&self, namespace: &str, name: &str, pod_uid: &str) -> String {
        let token = format!("{BOUND_TOKEN_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let user = User {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            rules: Vec::new(),
        };
        self.lock()
            .insert(token.clone(), (user, pod_uid.to_string()));
        token
    }

    /// The service account a bearer token stands for: `Ok(None)` when it is no bound token, 401
    /// when it was one and its pod is gone (even when the token table lets anyone in).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Option<User>, ApiError> {
        let Some(token) = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(BOUND_TOKEN_PREFIX))
        else {
            return Ok(None);
        };
        match self.lock().get(token) {
            Some((user, _)) => Ok(Some(user.clone())),
            None => Err(ApiError::unauthorized()),
        }
    }

    /// Invalidates the tokens of pods that are gone: those not in `live`.
    pub fn retain_pods(&self, live: &std::collections::HashSet<&str>) {
        self.lock()
            .retain(|_, (_, uid)| live.contains(uid.as_str()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (User, String)>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a request wants to do.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// API group.
    pub group: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource, e.g. `log`.
    pub subresource: String,
    /// Namespace, empty at cluster scope.
    pub namespace: String,
    /// Object name, empty for collections.
    pub name: String,
}

fn subject_matches(subject: &Value, user: &User) -> bool {
    let name = meta::str_at(subject, "name");
    match meta::str_at(subject, "kind") {
        "User" => name == user.name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            user.name
                == format!(
                    "system:serviceaccount:{}:{name}",
                    meta::str_at(subject, "namespace")
                )
        }
        _ => false,
    }
}

fn rules_of(value: &Value) -> Vec<Rule> {
    value
        .get("rules")
        .and_then(|r| serde_json::from_value::<Vec<Rule>>(r.clone()).ok())
        .unwrap_or_default()
}

/// Every rule that applies to `user` in `namespace` (static, Role and ClusterRole bound).
pub fn effective_rules(store: &Store, user: &User, namespace: &str) -> Vec<Rule> {
    let mut rules = user.rules.clone();
    let role_of = |binding: &Value, ns: &str| -> Vec<Rule> {
        let role_name = meta::str_at(binding, "roleRef.name");
        let role = match meta::str_at(binding, "roleRef.kind") {
            "ClusterRole" => store.get(known::clusterroles(), "", role_name),
            _ => store.get(known::roles(), ns, role_name),
        };
        role.map(|r| rules_of(&r)).unwrap_or_default()
    };
    let bound = |b: &Value| {
        b.get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|s| subject_matches(s, user))
    };
    for b in store.list(known::clusterrolebindings(), None).0 {
        if bound(&b) {
            rules.extend(role_of(&b, ""));
        }
    }
    if !namespace.is_empty() {
        for b in store.list(known::rolebindings(), Some(namespace)).0 {
            if bound(&b) {
                rules.extend(role_of(&b, namespace).into_iter().map(|mut r| {
                    r.namespaces = vec![namespace.to_string()];
                    r
                }));
            }
        }
    }
    rules
}

/// Whether `user` may do `attrs`, with a reason for allowed answers.
pub fn authorize(store: &Store, user: &User, attrs: &Attributes) -> (bool, String) {
    let rules = effective_rules(store, user, &attrs.namespace);
    match rules.iter().find(|r| r.matches(attrs)) {
        Some(_) => (true, "allowed by the simulator's rule table".to_string()),
        None => (false, String::new()),
    }
}

/// The 403 a denied request gets.
pub fn forbidden(user: &User, a: &Attributes) -> ApiError {
    let group_resource = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let target = if a.name.is_empty() {
        group_resource
    } else {
        format!("{group_resource} \"{}\"", a.name)
    };
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    let mut e = ApiError::forbidden(format!(
        "{target} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        user.name, a.verb, a.group
    ));
    e.details = Some(serde_json::json!({"name": a.name, "group": a.group, "kind": a.resource}));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str, ns: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: String::new(),
        }
    }

    #[test]
    fn rule_matching() {
        let r = Rule::new(&["get"], &[""], &["pods/log"]).in_namespaces(&["a"]);
        assert!(r.matches(&attrs("get", "", "pods", "log", "a")));
        assert!(!r.matches(&attrs("get", "", "pods", "", "a")));
        assert!(!r.matches(&attrs("get", "", "pods", "log", "b")));
        let jobs = Rule::new(&["create", "get"], &["batch"], &["jobs"]);
        assert!(jobs.matches(&attrs("create", "batch", "jobs", "", "x")));
        assert!(!jobs.matches(&attrs("create", "", "jobs", "", "x")));
        assert!(Rule::all().matches(&attrs("watch", "apps", "deployments", "status", "")));
    }
}
