//! Carrying one flow run's Job to its end.
//!
//! The supervisor wakes on every change the [`Observer`](crate::observer::Observer) files under its
//! run, and once a second for its timers. It:
//!
//! - ends with the Job: `Complete` → the flow container's exit code; `Failed` → Crashed with the
//!   pod's diagnosis (OOMKilled, Evicted...) or the Job's condition; the Job gone → Crashed,
//!   unless the run was being cancelled;
//! - reports each pod phase and diagnosis once, as a `prefect.kubernetes.pod.*` event and, for a
//!   diagnosis, a flow-run log line; proposes `InfrastructurePending` while the pod waits;
//! - enforces the start timeout on pods that cannot start by themselves (image pull errors,
//!   missing Secrets, unschedulable pods unless a scale-up is under way) and the run timeout on
//!   flows that run too long, deleting the Job in both cases;
//! - streams the container's output into the flow-run log when `stream_output` is on.

use crate::diagnosis::{diagnose, Diagnosis};
use crate::logs::LogShipper;
use crate::manifest::{JobSettings, FLOW_CONTAINER};
use crate::observer::RunView;
use crate::submit::delete_job;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod};
use kube::api::{ListParams, LogParams};
use kube::{Api, ResourceExt};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;
use weir_client::events::EventSender;
use weir_core::events::{Event, Resource};
use weir_core::{StateCreate, StateType, Timestamp};
use weir_worker::Exit;

/// How long a Job may stay unseen by the observer after its namespace was listed before it is
/// taken as gone.
const UNSEEN_GRACE: Duration = Duration::from_secs(30);

/// Everything a supervisor needs.
pub struct Supervision {
    pub client: kube::Client,
    pub api: weir_client::Client,
    pub events: EventSender,
    pub flow_run_id: Uuid,
    pub namespace: String,
    pub job_name: String,
    pub settings: JobSettings,
    pub view: watch::Receiver<RunView>,
    /// Related resources for the run's pod events (flow run, pool, worker...).
    pub related: Vec<Resource>,
    /// How long a deleted Job's pods get to stop.
    pub grace: Duration,
}

#[derive(Default)]
struct PodMemory {
    reported: Option<(String, Option<&'static str>)>,
    stuck_since: Option<Instant>,
    running_since: Option<Instant>,
    streaming: bool,
}

impl Supervision {
    fn job_key(&self) -> String {
        format!("{}/{}", self.namespace, self.job_name)
    }

    /// Runs until the Job ends; how it ended.
    pub async fn run(mut self) -> Exit {
        let started = Instant::now();
        let mut seen = false;
        let mut pods: HashMap<String, PodMemory> = HashMap::new();
        let mut pending_proposed = false;
        let mut logs: Option<LogShipper> = self
            .settings
            .stream_output
            .then(|| LogShipper::new(self.api.clone(), self.flow_run_id));
        let mut followers = tokio::task::JoinSet::new();
        let exit = loop {
            let view = self.view.borrow_and_update().clone();
            let job = view.jobs.get(&self.job_key());
            match job {
                Some(job) => {
                    seen = true;
                    if let Some(exit) = self.job_outcome(job, &view) {
                        break exit;
                    }
                }
                None if seen => {
                    break Exit {
                        code: None,
                        message: Some(format!(
                            "The Kubernetes Job {} was deleted before the flow run finished.",
                            self.job_key()
                        )),
                    }
                }
                None if view.listed.contains(&self.namespace)
                    && started.elapsed() > UNSEEN_GRACE =>
                {
                    break Exit {
                        code: None,
                        message: Some(format!(
                            "The Kubernetes Job {} does not exist.",
                            self.job_key()
                        )),
                    }
                }
                None => {}
            }
            let mut timed_out = None;
            for (key, pod) in &view.pods {
                let memory = pods.entry(key.clone()).or_default();
                let diagnosis = diagnose(pod);
                self.report_pod(pod, diagnosis.as_ref(), memory).await;
                if pod_waiting(pod) && !pending_proposed {
                    pending_proposed = true;
                    self.propose_infrastructure_pending().await;
                }
                if let Some(reason) = self.check_timeouts(pod, diagnosis.as_ref(), memory).await {
                    timed_out = Some(reason);
                }
                if let Some(shipper) = logs.as_ref() {
                    if !memory.streaming && container_started(pod) {
                        memory.streaming = true;
                        followers.spawn(follow_logs(
                            self.client.clone(),
                            self.namespace.clone(),
                            pod.name_any(),
                            shipper.clone(),
                        ));
                    }
                }
            }
            if let Some(message) = timed_out {
                break self.stop_for(message).await;
            }
            tokio::select! {
                changed = self.view.changed() => {
                    if changed.is_err() {
                        break Exit { code: None, message: Some("the worker stopped observing the Job".into()) };
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        // Let the log followers drain what the container wrote last.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while followers.join_next().await.is_some() {}
        })
        .await;
        followers.abort_all();
        if let Some(shipper) = logs.take() {
            shipper.flush().await;
        }
        exit
    }

    /// The Job's final outcome, once it has one.
    fn job_outcome(&self, job: &Job, view: &RunView) -> Option<Exit> {
        let conditions = job.status.as_ref()?.conditions.as_ref()?;
        let holds = |kind: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == kind && c.status == "True")
        };
        let pod = newest_pod(view);
        let code = pod.and_then(flow_exit_code);
        if holds("Complete").is_some() {
            return Some(Exit {
                code: Some(code.unwrap_or(0)),
                message: None,
            });
        }
        let failed = holds("Failed")?;
        let diagnosis = view.pods.values().find_map(diagnose);
        let message = match diagnosis {
            Some(diagnosis) => format!("Flow run infrastructure failed: {}", diagnosis.summary()),
            None => format!(
                "The Kubernetes Job {} failed ({}: {}){}.",
                self.job_key(),
                failed.reason.as_deref().unwrap_or("Failed"),
                failed.message.as_deref().unwrap_or(""),
                code.map(|c| format!("; the flow container exited with code {c}"))
                    .unwrap_or_default()
            ),
        };
        Some(Exit {
            code,
            message: Some(message),
        })
    }

    async fn report_pod(&self, pod: &Pod, diagnosis: Option<&Diagnosis>, memory: &mut PodMemory) {
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into());
        let now = (phase.clone(), diagnosis.map(|d| d.kind.as_str()));
        if memory.reported.as_ref() == Some(&now) {
            return;
        }
        memory.reported = Some(now);
        self.events
            .send(pod_event(pod, &phase, diagnosis, &self.related));
        if let Some(diagnosis) = diagnosis {
            let level = if diagnosis.kind.may_resolve() { 30 } else { 40 };
            self.log(
                level,
                &format!("Pod {}: {}", pod.name_any(), diagnosis.summary()),
            )
            .await;
        }
    }

    /// Start and run timeouts; the message to crash with when one has passed.
    async fn check_timeouts(
        &self,
        pod: &Pod,
        diagnosis: Option<&Diagnosis>,
        memory: &mut PodMemory,
    ) -> Option<String> {
        if container_started(pod) {
            memory.stuck_since = None;
            let since = *memory.running_since.get_or_insert_with(Instant::now);
            let limit = self.settings.run_timeout?;
            return (since.elapsed() >= limit).then(|| {
                format!(
                    "The flow run exceeded its run timeout of {}s (job_watch_timeout_seconds).",
                    limit.as_secs_f64()
                )
            });
        }
        let diagnosis = diagnosis.filter(|d| d.kind.is_start_problem())?;
        let limit = self.settings.start_timeout?;
        let since = *memory.stuck_since.get_or_insert_with(Instant::now);
        if since.elapsed() < limit {
            return None;
        }
        if diagnosis.kind.may_resolve() && self.scale_up_under_way(pod).await {
            // The autoscaler is adding a node: give it another start timeout.
            memory.stuck_since = Some(Instant::now());
            self.log(
                20,
                &format!(
                    "Pod {} is unschedulable but a scale-up is under way; waiting.",
                    pod.name_any()
                ),
            )
            .await;
            return None;
        }
        Some(format!(
            "The flow run's pod did not start within {}s (pod_watch_timeout_seconds): {}",
            limit.as_secs_f64(),
            diagnosis.summary()
        ))
    }

    /// Whether the cluster autoscaler (or Karpenter) has reported acting for this pod. Needs
    /// `list` on events; without it, no scale-up is assumed.
    async fn scale_up_under_way(&self, pod: &Pod) -> bool {
        let events: Api<KubeEvent> = Api::namespaced(self.client.clone(), &self.namespace);
        let params = ListParams::default().fields(&format!(
            "involvedObject.kind=Pod,involvedObject.name={}",
            pod.name_any()
        ));
        match events.list(&params).await {
            Ok(list) => list.items.iter().any(|e| {
                matches!(
                    e.reason.as_deref(),
                    Some("TriggeredScaleUp") | Some("Nominated")
                )
            }),
            Err(error) => {
                tracing::debug!(%error, "cannot read the pod's events; assuming no scale-up");
                false
            }
        }
    }

    /// Ends the run for a timeout: a Failed state the flow cannot overwrite, then the Job goes.
    async fn stop_for(&self, message: String) -> Exit {
        self.log(40, &message).await;
        let mut state = StateCreate::of_type(StateType::Crashed);
        state.message = Some(message.clone());
        if let Err(error) = self
            .api
            .set_flow_run_state(self.flow_run_id, &state, true)
            .await
        {
            tracing::warn!(%error, "could not mark the run crashed");
        }
        if let Err(error) =
            delete_job(&self.client, &self.namespace, &self.job_name, self.grace).await
        {
            tracing::warn!(%error, job = %self.job_key(), "could not delete the Job");
        }
        Exit {
            code: None,
            message: Some(message),
        }
    }

    async fn propose_infrastructure_pending(&self) {
        let mut state = StateCreate::of_type(StateType::Pending);
        state.name = Some("InfrastructurePending".into());
        state.message = Some("Kubernetes pod is pending.".into());
        if let Err(error) = self
            .api
            .set_flow_run_state(self.flow_run_id, &state, false)
            .await
        {
            tracing::debug!(%error, "InfrastructurePending was not recorded");
        }
    }

    async fn log(&self, level: i64, message: &str) {
        let log = weir_core::schemas::LogCreate {
            name: "weir.worker.kubernetes".into(),
            level,
            message: message.to_owned(),
            timestamp: Timestamp::now(),
            flow_run_id: Some(self.flow_run_id),
            task_run_id: None,
        };
        if let Err(error) = self.api.create_logs(&[log]).await {
            tracing::warn!(%error, "could not write a flow-run log line");
        }
    }
}

/// Waiting to start, not yet running (the pod is Pending).
fn pod_waiting(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending")
}

/// The flow container runs or has run.
fn container_started(pod: &Pod) -> bool {
    flow_container_status(pod)
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
}

fn flow_container_status(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStatus> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses
        .iter()
        .find(|c| c.name == FLOW_CONTAINER)
        .or_else(|| statuses.first())
}

fn flow_exit_code(pod: &Pod) -> Option<i32> {
    flow_container_status(pod)?
        .state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

fn newest_pod(view: &RunView) -> Option<&Pod> {
    view.pods
        .values()
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// `prefect.kubernetes.pod.<phase>`, with prefect-kubernetes' resource labels. Its id is derived
/// from what it reports, so a replayed report is the same event.
fn pod_event(pod: &Pod, phase: &str, diagnosis: Option<&Diagnosis>, related: &[Resource]) -> Event {
    let uid = pod.uid().unwrap_or_default();
    let restarts: i32 = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|c| c.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0);
    let evicted = diagnosis.is_some_and(|d| d.kind.as_str() == "Evicted");
    let name = if evicted {
        "evicted".to_owned()
    } else {
        phase.to_lowercase()
    };
    let mut resource = Resource::new();
    resource.insert(
        "prefect.resource.id".into(),
        format!("prefect.kubernetes.pod.{uid}"),
    );
    resource.insert("prefect.resource.name".into(), pod.name_any());
    resource.insert(
        "kubernetes.namespace".into(),
        pod.namespace().unwrap_or_default(),
    );
    if let Some(reason) = pod.status.as_ref().and_then(|s| s.reason.clone()) {
        resource.insert("kubernetes.reason".into(), reason);
    }
    if let Some(diagnosis) = diagnosis {
        resource.insert(
            "kubernetes.diagnosis".into(),
            diagnosis.kind.as_str().into(),
        );
    }
    let identity = format!(
        "{uid}|{phase}|{restarts}|{}",
        diagnosis.map(|d| d.kind.as_str()).unwrap_or("")
    );
    Event {
        occurred: Timestamp::now(),
        event: format!("prefect.kubernetes.pod.{name}"),
        resource,
        related: related.to_vec(),
        payload: Default::default(),
        id: Uuid::new_v5(&Uuid::NAMESPACE_OID, identity.as_bytes()),
        follows: None,
        received: None,
    }
}

/// Follows a pod's flow container output into the run's log until the container ends.
async fn follow_logs(client: kube::Client, namespace: String, pod: String, shipper: LogShipper) {
    use futures::{AsyncBufReadExt, TryStreamExt};
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let params = LogParams {
        follow: true,
        container: Some(FLOW_CONTAINER.into()),
        ..LogParams::default()
    };
    let stream = match pods.log_stream(&pod, &params).await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::debug!(%error, %pod, "cannot follow the pod's output");
            return;
        }
    };
    let mut lines = stream.lines();
    while let Ok(Some(line)) = lines.try_next().await {
        shipper.line(line);
    }
}
