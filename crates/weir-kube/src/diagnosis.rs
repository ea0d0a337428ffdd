//! Why a flow run's pod is not running, read off the pod's status alone.
//!
//! The categories and their names are prefect-kubernetes' (`kubernetes.diagnosis` on
//! `prefect.kubernetes.pod.*` events): `ImagePullError`, `CrashLoopBackOff`, `OOMKilled`,
//! `Evicted`, `Unschedulable` and its refinements, plus `CreateContainerConfigError` and
//! `CreateContainerError`. Each diagnosis says whether waiting can help: an image that cannot be
//! pulled or a Secret that is missing will not fix themselves within a start timeout, while an
//! unschedulable pod may be waiting for the autoscaler.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// A pod problem, with what to tell the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    pub kind: DiagnosisKind,
    /// The reason and message Kubernetes gave.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiagnosisKind {
    ImagePullError,
    CrashLoopBackOff,
    OomKilled,
    Evicted,
    Unschedulable,
    UnschedulableInsufficientResources,
    UnschedulableNodeAffinity,
    UnschedulableTaint,
    CreateContainerConfigError,
    CreateContainerError,
}

impl DiagnosisKind {
    /// The name on events and in logs, as prefect-kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosisKind::ImagePullError => "ImagePullError",
            DiagnosisKind::CrashLoopBackOff => "CrashLoopBackOff",
            DiagnosisKind::OomKilled => "OOMKilled",
            DiagnosisKind::Evicted => "Evicted",
            DiagnosisKind::Unschedulable => "Unschedulable",
            DiagnosisKind::UnschedulableInsufficientResources => {
                "Unschedulable.InsufficientResources"
            }
            DiagnosisKind::UnschedulableNodeAffinity => "Unschedulable.NodeAffinity",
            DiagnosisKind::UnschedulableTaint => "Unschedulable.Taint",
            DiagnosisKind::CreateContainerConfigError => "CreateContainerConfigError",
            DiagnosisKind::CreateContainerError => "CreateContainerError",
        }
    }

    /// Whether the pod is still waiting to start (as opposed to having stopped).
    pub fn is_start_problem(self) -> bool {
        !matches!(
            self,
            DiagnosisKind::OomKilled | DiagnosisKind::Evicted | DiagnosisKind::CrashLoopBackOff
        )
    }

    /// Whether the pod may yet start on its own: only scheduling can be rescued (by a scale-up).
    pub fn may_resolve(self) -> bool {
        matches!(
            self,
            DiagnosisKind::Unschedulable
                | DiagnosisKind::UnschedulableInsufficientResources
                | DiagnosisKind::UnschedulableNodeAffinity
                | DiagnosisKind::UnschedulableTaint
        )
    }

    fn resolution(self) -> &'static str {
        match self {
            DiagnosisKind::ImagePullError => {
                "Check the image name and tag, that the registry is reachable from the cluster, \
                 and the image pull secrets."
            }
            DiagnosisKind::CrashLoopBackOff => {
                "The container keeps exiting; read its logs (kubectl logs --previous)."
            }
            DiagnosisKind::OomKilled => {
                "The container ran out of memory: raise the memory_limit job variable or use less memory."
            }
            DiagnosisKind::Evicted => {
                "The node evicted the pod (resource pressure, preemption or a drain); \
                 set resource requests, or retry the run."
            }
            DiagnosisKind::Unschedulable => "No node can run the pod; check the scheduler's message.",
            DiagnosisKind::UnschedulableInsufficientResources => {
                "No node has the CPU or memory requested: lower the requests or add capacity."
            }
            DiagnosisKind::UnschedulableNodeAffinity => {
                "No node matches the pod's node selector or affinity."
            }
            DiagnosisKind::UnschedulableTaint => {
                "Every fitting node has a taint the pod does not tolerate: add a toleration."
            }
            DiagnosisKind::CreateContainerConfigError => {
                "A Secret or ConfigMap the container's env or volumes name is missing; create it."
            }
            DiagnosisKind::CreateContainerError => {
                "The container could not be created; check its command and volume mounts."
            }
        }
    }
}

impl Diagnosis {
    /// One line for the flow-run log: what, the detail, and what to do.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} Resolution: {}",
            self.kind.as_str(),
            self.detail.trim(),
            self.kind.resolution()
        )
    }
}

/// What is wrong with `pod`, if anything.
pub fn diagnose(pod: &Pod) -> Option<Diagnosis> {
    let status = pod.status.as_ref()?;
    let found = |kind, detail: String| Some(Diagnosis { kind, detail });
    if status.reason.as_deref() == Some("Evicted") {
        return found(
            DiagnosisKind::Evicted,
            status.message.clone().unwrap_or_default(),
        );
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in containers {
        if let Some(diagnosis) = diagnose_container(container) {
            return Some(diagnosis);
        }
    }
    if let Some(condition) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "DisruptionTarget" && c.status == "True")
    {
        return found(
            DiagnosisKind::Evicted,
            condition
                .message
                .clone()
                .or_else(|| condition.reason.clone())
                .unwrap_or_default(),
        );
    }
    let unscheduled = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })?;
    let message = unscheduled.message.clone().unwrap_or_default();
    let lower = message.to_lowercase();
    let kind = if lower.contains("insufficient") {
        DiagnosisKind::UnschedulableInsufficientResources
    } else if lower.contains("affinity") || lower.contains("node selector") {
        DiagnosisKind::UnschedulableNodeAffinity
    } else if lower.contains("taint") {
        DiagnosisKind::UnschedulableTaint
    } else {
        DiagnosisKind::Unschedulable
    };
    found(kind, message)
}

fn diagnose_container(container: &ContainerStatus) -> Option<Diagnosis> {
    let state = container.state.as_ref();
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        let kind = match waiting.reason.as_deref()? {
            "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => {
                DiagnosisKind::ImagePullError
            }
            "CrashLoopBackOff" => DiagnosisKind::CrashLoopBackOff,
            "CreateContainerConfigError" => DiagnosisKind::CreateContainerConfigError,
            "CreateContainerError" => DiagnosisKind::CreateContainerError,
            _ => return None,
        };
        let detail = format!(
            "container {} is waiting ({}): {}",
            container.name,
            waiting.reason.as_deref().unwrap_or(""),
            waiting.message.as_deref().unwrap_or("")
        );
        return Some(Diagnosis { kind, detail });
    }
    let terminated = state
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| container.last_state.as_ref()?.terminated.as_ref())?;
    let kind = match terminated.reason.as_deref()? {
        "OOMKilled" => DiagnosisKind::OomKilled,
        "Evicted" => DiagnosisKind::Evicted,
        _ => return None,
    };
    Some(Diagnosis {
        kind,
        detail: format!(
            "container {} was terminated ({}, exit code {}).",
            container.name,
            terminated.reason.as_deref().unwrap_or(""),
            terminated.exit_code
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    fn waiting(reason: &str) -> serde_json::Value {
        json!({"phase": "Pending", "containerStatuses": [{
            "name": "prefect-job", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": "details here"}}}]})
    }

    #[test]
    fn each_category_from_the_status_kubernetes_writes() {
        let cases = [
            (waiting("ImagePullBackOff"), Some("ImagePullError")),
            (waiting("ErrImagePull"), Some("ImagePullError")),
            (waiting("CrashLoopBackOff"), Some("CrashLoopBackOff")),
            (
                waiting("CreateContainerConfigError"),
                Some("CreateContainerConfigError"),
            ),
            (
                waiting("CreateContainerError"),
                Some("CreateContainerError"),
            ),
            (waiting("ContainerCreating"), None),
            (
                json!({"phase": "Failed", "containerStatuses": [{
                    "name": "prefect-job", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
                Some("OOMKilled"),
            ),
            (
                json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}),
                Some("Evicted"),
            ),
            (
                json!({"phase": "Failed", "conditions": [{"type": "DisruptionTarget",
                    "status": "True", "reason": "TerminationByKubelet"}]}),
                Some("Evicted"),
            ),
            (
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                    "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient cpu."}]}),
                Some("Unschedulable.InsufficientResources"),
            ),
            (
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                    "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."}]}),
                Some("Unschedulable.NodeAffinity"),
            ),
            (
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                    "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 node(s) had untolerated taint {gpu: true}."}]}),
                Some("Unschedulable.Taint"),
            ),
            (
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                    "status": "False", "reason": "Unschedulable", "message": "no nodes"}]}),
                Some("Unschedulable"),
            ),
            (json!({"phase": "Running"}), None),
        ];
        for (status, expected) in cases {
            let found = diagnose(&pod(status.clone())).map(|d| d.kind.as_str());
            assert_eq!(found, expected, "{status}");
        }
    }

    #[test]
    fn summaries_carry_the_detail_and_a_resolution() {
        let d = diagnose(&pod(waiting("ImagePullBackOff"))).unwrap();
        let summary = d.summary();
        assert!(
            summary.starts_with(
                "ImagePullError: container prefect-job is waiting (ImagePullBackOff): details here"
            ),
            "{summary}"
        );
        assert!(
            summary.contains("Resolution: Check the image name"),
            "{summary}"
        );
        assert!(!d.kind.may_resolve());
        assert!(d.kind.is_start_problem());
        assert!(DiagnosisKind::UnschedulableTaint.may_resolve());
        assert!(!DiagnosisKind::OomKilled.is_start_problem());
    }
}
