//! RBAC preflight: does the worker's identity hold every permission the worker uses?
//!
//! [`REQUIRED_RULES`] lists exactly the calls the Kubernetes worker makes in a job namespace.
//! [`check`] asks the API server, with one `SelfSubjectAccessReview` per namespace, resource and
//! verb, whether the client's identity may make each of them, and [`PreflightReport`] renders the
//! gaps as the Role rules to add. Every review names a namespace: the preflight never asks about
//! cluster-scoped access, so a worker confined to namespaced Roles passes it.
//!
//! The Helm chart's Role is rendered from the same list: `charts/weir-worker/files/role-rules.yaml`
//! holds [`role_rules_yaml`]'s output, and the `charts` test of this crate checks both that file
//! and the Roles helm renders against [`REQUIRED_RULES`], so the two cannot drift apart.

use std::fmt::Write as _;

use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// One RBAC rule: verbs on one resource (or subresource) of one API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The API group; `""` is the core group.
    pub api_group: &'static str,
    /// The resource, e.g. `pods`.
    pub resource: &'static str,
    /// The subresource, e.g. `log`; `""` for none.
    pub subresource: &'static str,
    /// The verbs.
    pub verbs: &'static [&'static str],
}

impl Rule {
    /// The resource as a Role writes it: `pods/log` for a subresource.
    pub fn resource_name(&self) -> String {
        resource_name(self.resource, self.subresource)
    }
}

fn resource_name(resource: &str, subresource: &str) -> String {
    if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    }
}

/// What the Kubernetes worker calls in each job namespace: it creates, reads, lists, watches and
/// (to cancel) deletes Jobs; reads, lists and watches their pods; and reads pod logs (to forward a
/// crashed run's last lines).
pub const REQUIRED_RULES: &[Rule] = &[
    Rule {
        api_group: "batch",
        resource: "jobs",
        subresource: "",
        verbs: &["create", "get", "list", "watch", "delete"],
    },
    Rule {
        api_group: "",
        resource: "pods",
        subresource: "",
        verbs: &["get", "list", "watch"],
    },
    Rule {
        api_group: "",
        resource: "pods",
        subresource: "log",
        verbs: &["get"],
    },
];

/// One permission the identity lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The namespace it is missing in.
    pub namespace: String,
    /// The API group; `""` is the core group.
    pub api_group: String,
    /// The resource as a Role writes it (`pods/log` for a subresource).
    pub resource: String,
    /// The verb.
    pub verb: String,
    /// The API server's reason, when it gave one.
    pub reason: Option<String>,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.api_group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.api_group)
        };
        write!(
            f,
            "{} {}{} in namespace {:?}",
            self.verb, self.resource, group, self.namespace
        )
    }
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreflightReport {
    /// The namespaces checked, in the order given, without repeats.
    pub namespaces: Vec<String>,
    /// The denied permissions, in the order of the namespaces and of [`REQUIRED_RULES`].
    pub missing: Vec<Missing>,
}

impl PreflightReport {
    /// Whether every permission was granted.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty()
    }

    /// One line naming every missing permission, or saying that none is missing.
    pub fn summary(&self) -> String {
        if self.missing.is_empty() {
            return format!(
                "RBAC preflight passed: every permission the worker uses is granted in {}",
                quoted(&self.namespaces)
            );
        }
        let names: Vec<String> = self.missing.iter().map(ToString::to_string).collect();
        format!(
            "RBAC preflight: the worker lacks {} permission{}: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        )
    }

    /// The summary as a YAML comment, then for each namespace with gaps the Role rules to add
    /// there (one rule per API group and resource); empty when nothing is missing.
    pub fn missing_rules_yaml(&self) -> String {
        if self.missing.is_empty() {
            return String::new();
        }
        let mut out = format!("# {}\n", self.summary());
        for namespace in &self.namespaces {
            let gaps: Vec<&Missing> = self
                .missing
                .iter()
                .filter(|m| &m.namespace == namespace)
                .collect();
            if gaps.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "# add to the rules of the Role bound to the worker in namespace {namespace:?}:"
            );
            let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
            for gap in gaps {
                match groups
                    .iter_mut()
                    .find(|(g, r, _)| *g == gap.api_group && *r == gap.resource)
                {
                    Some((_, _, verbs)) => verbs.push(&gap.verb),
                    None => groups.push((&gap.api_group, &gap.resource, vec![&gap.verb])),
                }
            }
            for (group, resource, verbs) in groups {
                write_rule(&mut out, group, resource, &verbs);
            }
        }
        out
    }
}

impl std::fmt::Display for PreflightReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

fn quoted(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    items.join(", ")
}

/// Writes one rule as an item of a Role's `rules` list, in flow style.
fn write_rule(out: &mut String, group: &str, resource: &str, verbs: &[&str]) {
    let verbs: Vec<String> = verbs.iter().map(|v| format!("{v:?}")).collect();
    let _ = writeln!(out, "- apiGroups: [{group:?}]");
    let _ = writeln!(out, "  resources: [{resource:?}]");
    let _ = writeln!(out, "  verbs: [{}]", verbs.join(", "));
}

/// [`REQUIRED_RULES`] as the `rules` list of a Role (YAML, one item per rule).
pub fn role_rules_yaml() -> String {
    let mut out = String::new();
    for rule in REQUIRED_RULES {
        write_rule(&mut out, rule.api_group, &rule.resource_name(), rule.verbs);
    }
    out
}

/// How many access reviews are in flight at once.
const CONCURRENT_REVIEWS: usize = 8;

/// Asks whether the client's identity holds every permission of [`REQUIRED_RULES`] in each of
/// `namespaces`, one `SelfSubjectAccessReview` per namespace, resource and verb, several at once.
/// An `Err` means a review itself failed (the server is unreachable, or refused the review).
pub async fn check(
    client: &kube::Client,
    namespaces: &[String],
) -> Result<PreflightReport, kube::Error> {
    let mut unique: Vec<String> = Vec::new();
    for namespace in namespaces {
        if !unique.contains(namespace) {
            unique.push(namespace.clone());
        }
    }
    let mut questions = Vec::new();
    for namespace in &unique {
        for rule in REQUIRED_RULES {
            for verb in rule.verbs {
                questions.push((namespace.clone(), *rule, *verb));
            }
        }
    }
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    // Boxed up front: a closure-built stream of futures is not provably `Send` for callers that
    // spawn the check.
    let reviews_in_flight: Vec<futures::future::BoxFuture<'static, _>> = questions
        .into_iter()
        .map(|(namespace, rule, verb)| {
            let reviews = reviews.clone();
            Box::pin(async move { review(&reviews, namespace, rule, verb).await }) as _
        })
        .collect();
    let answers: Vec<Option<Missing>> = stream::iter(reviews_in_flight)
        .buffered(CONCURRENT_REVIEWS)
        .try_collect()
        .await?;
    Ok(PreflightReport {
        namespaces: unique,
        missing: answers.into_iter().flatten().collect(),
    })
}

/// One review: `None` when allowed, the missing permission when not.
async fn review(
    reviews: &Api<SelfSubjectAccessReview>,
    namespace: String,
    rule: Rule,
    verb: &str,
) -> Result<Option<Missing>, kube::Error> {
    let question = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.clone()),
                group: Some(rule.api_group.to_string()),
                resource: Some(rule.resource.to_string()),
                subresource: (!rule.subresource.is_empty()).then(|| rule.subresource.to_string()),
                verb: Some(verb.to_string()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = reviews.create(&PostParams::default(), &question).await?;
    let status = answer.status.unwrap_or_default();
    if status.allowed {
        return Ok(None);
    }
    Ok(Some(Missing {
        namespace,
        api_group: rule.api_group.to_string(),
        resource: rule.resource_name(),
        verb: verb.to_string(),
        reason: status.reason.filter(|r| !r.is_empty()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_rules_yaml_lists_every_rule() {
        assert_eq!(
            role_rules_yaml(),
            "- apiGroups: [\"batch\"]\n  resources: [\"jobs\"]\n  verbs: [\"create\", \"get\", \"list\", \"watch\", \"delete\"]\n\
             - apiGroups: [\"\"]\n  resources: [\"pods\"]\n  verbs: [\"get\", \"list\", \"watch\"]\n\
             - apiGroups: [\"\"]\n  resources: [\"pods/log\"]\n  verbs: [\"get\"]\n"
        );
    }

    #[test]
    fn a_full_report_prints_nothing_to_add() {
        let report = PreflightReport {
            namespaces: vec!["a".into()],
            missing: vec![],
        };
        assert!(report.is_ok());
        assert_eq!(report.missing_rules_yaml(), "");
        assert!(report.summary().contains("passed"));
    }
}
