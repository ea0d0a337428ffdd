//! RBAC preflight (placeholder until the full module lands): asks SelfSubjectAccessReview for each
//! permission the worker uses.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::Api;

/// (apiGroup, resource, subresource, verbs)
const RULES: &[(&str, &str, &str, &[&str])] = &[
    (
        "batch",
        "jobs",
        "",
        &["create", "get", "list", "watch", "delete"],
    ),
    ("", "pods", "", &["get", "list", "watch"]),
    ("", "pods", "log", &["get"]),
];

/// The permissions a check found missing.
pub struct PreflightReport {
    missing: Vec<(String, String, String)>,
}

impl PreflightReport {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
    pub fn summary(&self) -> String {
        let items: Vec<String> = self
            .missing
            .iter()
            .map(|(ns, resource, verb)| format!("{verb} {resource} in {ns}"))
            .collect();
        format!("the worker may not: {}", items.join(", "))
    }
    pub fn missing_rules_yaml(&self) -> String {
        self.missing
            .iter()
            .map(|(ns, resource, verb)| {
                format!("# {ns}\n- resources: [\"{resource}\"]\n  verbs: [\"{verb}\"]\n")
            })
            .collect()
    }
}

pub async fn check(
    client: &kube::Client,
    namespaces: &[String],
) -> Result<PreflightReport, kube::Error> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut missing = Vec::new();
    for namespace in namespaces {
        for (group, resource, subresource, verbs) in RULES {
            for verb in *verbs {
                let review = SelfSubjectAccessReview {
                    spec: SelfSubjectAccessReviewSpec {
                        resource_attributes: Some(ResourceAttributes {
                            namespace: Some(namespace.clone()),
                            group: Some((*group).into()),
                            resource: Some((*resource).into()),
                            subresource: (!subresource.is_empty()).then(|| (*subresource).into()),
                            verb: Some((*verb).into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let answer = reviews.create(&PostParams::default(), &review).await?;
                if !answer.status.is_some_and(|s| s.allowed) {
                    let name = if subresource.is_empty() {
                        resource.to_string()
                    } else {
                        format!("{resource}/{subresource}")
                    };
                    missing.push((namespace.clone(), name, (*verb).to_owned()));
                }
            }
        }
    }
    Ok(PreflightReport { missing })
}
