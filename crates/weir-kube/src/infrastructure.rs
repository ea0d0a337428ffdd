//! The Kubernetes infrastructure of `weir worker start --type kubernetes`.
//!
//! [`KubernetesInfrastructure`] implements the worker's `Infrastructure`: `start` prepares the
//! manifest, creates the Job (idempotently) and hands back a supervisor future that resolves when
//! the Job ends; `stop` deletes the Job with its pods; `resume`, at worker start, checks RBAC,
//! adopts the Jobs of runs left going by a previous worker and starts the reconciler, which deletes
//! Jobs still active for runs that already ended.

use crate::manifest::{self, DeploymentInfo, EnvVar, RunContext};
use crate::observer::Observer;
use crate::submit::{self, delete_job, find_job, parse_pid};
use crate::supervise::Supervision;
use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job as KubeJob;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use uuid::Uuid;
use weir_client::events::EventSender;
use weir_client::{Auth, Method};
use weir_core::events::Resource;
use weir_core::job_template::{default_kubernetes_template, BaseJobTemplate};
use weir_core::schemas::FlowRun;
use weir_core::{StateCreate, StateType, Timestamp};
use weir_worker::{Adopted, Infrastructure, Job, StartError, Started, WorkerStart};

/// A Secret and key holding a credential, for the flow's env to reference.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

/// How the Kubernetes worker runs.
#[derive(Clone, Debug)]
pub struct KubernetesSettings {
    /// The API the flows report to (passed to them as `PREFECT_API_URL`).
    pub api_url: String,
    pub auth: Auth,
    /// Namespaces to check and watch from the start, besides the pool's default namespace.
    pub namespaces: Vec<String>,
    /// Pass the API key to flows as a reference to this Secret rather than its value.
    pub api_key_secret: Option<SecretKeyRef>,
    /// Pass the basic-auth string to flows as a reference to this Secret rather than its value.
    pub auth_string_secret: Option<SecretKeyRef>,
    /// How often Jobs are reconciled with their runs.
    pub reconcile_every: Duration,
    /// How long pods of a deleted Job get to stop.
    pub delete_grace: Duration,
    /// Runs left PENDING without a Job this long by a worker that is gone are scheduled again.
    pub orphan_pending_after: Duration,
}

impl KubernetesSettings {
    pub fn new(api_url: impl Into<String>, auth: Auth) -> KubernetesSettings {
        KubernetesSettings {
            api_url: api_url.into(),
            auth,
            namespaces: Vec::new(),
            api_key_secret: None,
            auth_string_secret: None,
            reconcile_every: Duration::from_secs(60),
            delete_grace: Duration::from_secs(30),
            orphan_pending_after: Duration::from_secs(60),
        }
    }
}

struct Cluster {
    client: kube::Client,
    observer: Arc<Observer>,
}

/// Flow runs as Kubernetes Jobs.
pub struct KubernetesInfrastructure {
    shared: Arc<Shared>,
}

struct Shared {
    settings: KubernetesSettings,
    api: weir_client::Client,
    events: OnceLock<EventSender>,
    /// A client given by the caller (tests, embedders) instead of the ambient configuration.
    given_client: Option<kube::Client>,
    clusters: tokio::sync::Mutex<HashMap<String, Arc<Cluster>>>,
    pids: Mutex<HashMap<String, Arc<Cluster>>>,
    worker_name: OnceLock<String>,
}

impl KubernetesInfrastructure {
    /// Reaches clusters through the ambient configuration (in-cluster, then kubeconfig) or each
    /// pool's `cluster_config` block.
    pub fn new(settings: KubernetesSettings) -> KubernetesInfrastructure {
        Self::build(settings, None)
    }

    /// Uses `client` for every run that names no `cluster_config`.
    pub fn with_client(
        settings: KubernetesSettings,
        client: kube::Client,
    ) -> KubernetesInfrastructure {
        Self::build(settings, Some(client))
    }

    fn build(settings: KubernetesSettings, given_client: Option<kube::Client>) -> Self {
        let api = weir_client::Client::new(&settings.api_url, settings.auth.clone());
        KubernetesInfrastructure {
            shared: Arc::new(Shared {
                settings,
                api,
                events: OnceLock::new(),
                given_client,
                clusters: tokio::sync::Mutex::new(HashMap::new()),
                pids: Mutex::new(HashMap::new()),
                worker_name: OnceLock::new(),
            }),
        }
    }
}

impl Shared {
    fn events(&self) -> EventSender {
        self.events
            .get_or_init(|| EventSender::connect(&self.settings.api_url, &self.settings.auth))
            .clone()
    }

    async fn cluster(
        &self,
        cluster_config: Option<&Value>,
        pool: &str,
    ) -> Result<Arc<Cluster>, String> {
        let key = format!("{}|{pool}", crate::cluster::cluster_key(cluster_config));
        let mut clusters = self.clusters.lock().await;
        if let Some(cluster) = clusters.get(&key) {
            return Ok(cluster.clone());
        }
        let client = match (cluster_config, &self.given_client) {
            (None, Some(client)) => client.clone(),
            _ => crate::cluster::connect(cluster_config)
                .await
                .map_err(|e| e.to_string())?,
        };
        let cluster = Arc::new(Cluster {
            observer: Observer::new(client.clone(), pool),
            client,
        });
        clusters.insert(key, cluster.clone());
        Ok(cluster)
    }

    /// The env the flow needs to reach the API, credentials by Secret reference when configured.
    fn api_env(&self) -> Vec<EnvVar> {
        let mut env = vec![EnvVar::value("PREFECT_API_URL", &self.settings.api_url)];
        let credential = |name: &str, value: &str, secret: &Option<SecretKeyRef>| match secret {
            Some(secret) => EnvVar::SecretKey {
                name: name.into(),
                secret: secret.name.clone(),
                key: secret.key.clone(),
            },
            None => EnvVar::value(name, value),
        };
        match &self.settings.auth {
            Auth::None => {}
            // Prefect's client sends PREFECT_API_KEY over HTTP but only the auth string on its
            // events websocket; Weir takes a key as either, so Python flows report task runs too.
            Auth::Bearer(key) => {
                for name in ["PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"] {
                    env.push(credential(name, key, &self.settings.api_key_secret));
                }
            }
            Auth::Basic(auth) => env.push(credential(
                "PREFECT_API_AUTH_STRING",
                auth,
                &self.settings.auth_string_secret,
            )),
        }
        env
    }

    fn related(
        &self,
        run: &FlowRun,
        pool: &weir_core::work_pools::WorkPool,
        flow: Option<&str>,
    ) -> Vec<Resource> {
        let resource = |id: String, role: &str, name: &str| {
            let mut r = Resource::new();
            r.insert("prefect.resource.id".into(), id);
            r.insert("prefect.resource.role".into(), role.into());
            r.insert("prefect.resource.name".into(), name.into());
            r
        };
        let mut related = vec![
            resource(
                format!("prefect.flow-run.{}", run.id),
                "flow-run",
                &run.name,
            ),
            resource(
                format!("prefect.work-pool.{}", pool.id),
                "work-pool",
                &pool.name,
            ),
        ];
        if let Some(worker) = self.worker_name.get() {
            related.push(resource(
                format!(
                    "prefect.worker.kubernetes.{}",
                    manifest::slugify_label_value(worker)
                ),
                "worker",
                worker,
            ));
        }
        if let Some(flow) = flow {
            related.push(resource(
                format!("prefect.flow.{}", run.flow_id),
                "flow",
                flow,
            ));
        }
        if let Some(deployment) = run.deployment_id {
            related.push(resource(
                format!("prefect.deployment.{deployment}"),
                "deployment",
                "",
            ));
        }
        related
    }

    fn supervise(
        self: &Arc<Self>,
        cluster: Arc<Cluster>,
        run: Uuid,
        namespace: String,
        job_name: String,
        settings: manifest::JobSettings,
        related: Vec<Resource>,
    ) -> Started {
        let pid = submit::pid(&namespace, &job_name);
        if let Ok(mut pids) = self.pids.lock() {
            pids.insert(pid.clone(), cluster.clone());
        }
        cluster.observer.watch_namespace(&namespace);
        let supervision = Supervision {
            client: cluster.client.clone(),
            api: self.api.clone(),
            events: self.events(),
            flow_run_id: run,
            namespace,
            job_name,
            settings,
            view: cluster.observer.subscribe(run),
            related,
            grace: self.settings.delete_grace,
        };
        let me = self.clone();
        let exit_pid = pid.clone();
        let exit = Box::pin(async move {
            let exit = supervision.run().await;
            cluster.observer.forget(run);
            if let Ok(mut pids) = me.pids.lock() {
                pids.remove(&exit_pid);
            }
            exit
        });
        Started { pid, exit }
    }

    async fn start(self: Arc<Self>, job: Job) -> Result<Started, StartError> {
        let run = &job.flow_run;
        let flow = self.api.read_flow(run.flow_id).await.ok();
        let flow_name = flow.as_ref().map(|f| f.name.clone());
        let context = RunContext {
            flow_run_id: run.id,
            flow_run_name: run.name.clone(),
            flow_id: run.flow_id,
            flow_name: flow_name.clone(),
            deployment: job.deployment.as_ref().map(|d| DeploymentInfo {
                id: d.id,
                name: d.name.clone(),
                updated: Some(d.updated.to_canonical()),
            }),
            work_pool_name: job.work_pool.name.clone(),
            work_pool_id: Some(job.work_pool.id),
            worker_name: job.worker_name.clone(),
            worker_id: None,
            entrypoint: job.entrypoint.clone(),
            api_env: self.api_env(),
            version: env!("CARGO_PKG_VERSION").into(),
        };
        let prepared = manifest::prepare(&job.configuration, &context)
            .map_err(|e| StartError(e.to_string()))?;
        let cluster = self
            .cluster(
                prepared.settings.cluster_config.as_ref(),
                &job.work_pool.name,
            )
            .await
            .map_err(StartError)?;
        let namespace = prepared.settings.namespace.clone();
        // Watch before creating, so no change to the new Job is missed.
        cluster.observer.watch_namespace(&namespace);
        let _early = cluster.observer.subscribe(run.id);
        let job_name = submit::submit(&cluster.client, &prepared, run.id)
            .await
            .map_err(|e| StartError(e.to_string()))?;
        let related = self.related(run, &job.work_pool, flow_name.as_deref());
        Ok(self.supervise(
            cluster,
            run.id,
            namespace,
            job_name,
            prepared.settings,
            related,
        ))
    }

    /// The namespaces to check and watch from the start: the configured ones and the pool's
    /// default.
    fn namespaces(&self, template: &BaseJobTemplate) -> Vec<String> {
        let mut namespaces: BTreeSet<String> = self.settings.namespaces.iter().cloned().collect();
        let default = template
            .properties()
            .and_then(|p| p.get("namespace"))
            .and_then(|n| n.get("default"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        namespaces.insert(default.to_owned());
        namespaces.into_iter().collect()
    }

    async fn resume(self: Arc<Self>, start: WorkerStart) -> Vec<Adopted> {
        let _ = self.worker_name.set(start.worker_name.clone());
        let template: BaseJobTemplate =
            serde_json::from_value(Value::Object(start.pool.base_job_template.clone()))
                .unwrap_or_default();
        let namespaces = self.namespaces(&template);
        let cluster = match self.cluster(None, &start.pool.name).await {
            Ok(cluster) => cluster,
            Err(error) => {
                tracing::error!(%error, "cannot reach the Kubernetes cluster");
                return Vec::new();
            }
        };
        self.preflight(&cluster.client, &namespaces).await;
        for namespace in &namespaces {
            cluster.observer.watch_namespace(namespace);
        }
        let adopted = match self.adopt(&cluster, &start, &namespaces).await {
            Ok(adopted) => adopted,
            Err(error) => {
                tracing::warn!(%error, "could not look for runs to adopt");
                Vec::new()
            }
        };
        let me = self.clone();
        tokio::spawn(async move { me.reconcile_forever(cluster, namespaces).await });
        adopted
    }

    async fn preflight(&self, client: &kube::Client, namespaces: &[String]) {
        match crate::preflight::check(client, namespaces).await {
            Ok(report) if report.is_ok() => {
                tracing::info!(?namespaces, "RBAC preflight passed");
            }
            Ok(report) => {
                tracing::error!(
                    "{}\nAdd these rules to the worker's Role:\n{}",
                    report.summary(),
                    report.missing_rules_yaml()
                );
            }
            Err(error) => tracing::warn!(%error, "could not check the worker's RBAC permissions"),
        }
    }

    /// Runs of the pool that a previous worker left going: their Jobs are followed again; runs
    /// whose Jobs are gone crash; runs left PENDING without a Job go back to SCHEDULED.
    async fn adopt(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        start: &WorkerStart,
        namespaces: &[String],
    ) -> Result<Vec<Adopted>, String> {
        let online = self.online_workers(&start.pool.name).await;
        let mut adopted = Vec::new();
        for run in self.unfinished_runs(&start.pool.name).await? {
            let owner = run
                .labels
                .get("prefect.worker.name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if owner != start.worker_name && online.contains(owner) {
                continue; // A live worker follows it.
            }
            let related = self.related(&run, &start.pool, None);
            let settings = manifest::JobSettings {
                namespace: String::new(),
                cluster_config: None,
                stream_output: false,
                start_timeout: Some(Duration::from_secs(60)),
                run_timeout: None,
            };
            let found = match run.infrastructure_pid.as_deref().and_then(parse_pid) {
                Some((namespace, name)) => {
                    let jobs: Api<KubeJob> = Api::namespaced(cluster.client.clone(), namespace);
                    match jobs.get_opt(name).await {
                        Ok(job) => job.map(|j| (namespace.to_owned(), j)).ok_or(()),
                        Err(error) => {
                            tracing::warn!(%error, "cannot read a run's Job");
                            continue;
                        }
                    }
                }
                None => {
                    let mut found = Err(());
                    for namespace in namespaces {
                        let jobs: Api<KubeJob> = Api::namespaced(cluster.client.clone(), namespace);
                        if let Ok(Some(job)) = find_job(&jobs, run.id).await {
                            found = Ok((namespace.clone(), job));
                            break;
                        }
                    }
                    found
                }
            };
            match found {
                Ok((namespace, job)) => {
                    let name = job.name_any();
                    if run.infrastructure_pid.is_none() {
                        let patch = json!({"infrastructure_pid": submit::pid(&namespace, &name)});
                        let _ = self.api.update_flow_run(run.id, &patch).await;
                    }
                    let settings = manifest::JobSettings {
                        namespace: namespace.clone(),
                        ..settings
                    };
                    let started =
                        self.supervise(cluster.clone(), run.id, namespace, name, settings, related);
                    adopted.push(Adopted {
                        flow_run_id: run.id,
                        started,
                    });
                }
                Err(()) => self.settle_jobless(&run).await,
            }
        }
        Ok(adopted)
    }

    /// A run of a gone worker that has no Job.
    async fn settle_jobless(&self, run: &FlowRun) {
        let (state, message) = match (run.state_type, &run.infrastructure_pid) {
            (Some(StateType::Cancelling), _) => (
                StateType::Cancelled,
                "Flow run was cancelled; its Kubernetes Job is gone.".to_owned(),
            ),
            (Some(StateType::Pending), None) => {
                let since = run
                    .state
                    .as_ref()
                    .map(|s| Timestamp::now().seconds_since(&s.timestamp))
                    .unwrap_or(f64::MAX);
                if since < self.settings.orphan_pending_after.as_secs_f64() {
                    return;
                }
                (
                    StateType::Scheduled,
                    "Rescheduled: the worker that claimed this run stopped before creating its Job."
                        .to_owned(),
                )
            }
            (_, pid) => (
                StateType::Crashed,
                format!(
                    "The Kubernetes Job {} of this flow run no longer exists.",
                    pid.as_deref().unwrap_or("")
                ),
            ),
        };
        let mut proposed = StateCreate::of_type(state);
        proposed.message = Some(message.clone());
        tracing::warn!(flow_run = %run.id, "{message}");
        if let Err(error) = self.api.set_flow_run_state(run.id, &proposed, true).await {
            tracing::warn!(%error, "could not settle a run without a Job");
        }
    }

    async fn unfinished_runs(&self, pool: &str) -> Result<Vec<FlowRun>, String> {
        let mut runs = Vec::new();
        loop {
            let filter = json!({
                "work_pools": {"name": {"any_": [pool]}},
                "flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}},
                "limit": 200,
                "offset": runs.len(),
            });
            let page = self
                .api
                .filter_flow_runs(&filter)
                .await
                .map_err(|e| e.to_string())?;
            let full = page.len() == 200;
            runs.extend(page);
            if !full {
                return Ok(runs);
            }
        }
    }

    async fn online_workers(&self, pool: &str) -> BTreeSet<String> {
        let body = json!({"workers": {"status": {"any_": ["ONLINE"]}}});
        match self
            .api
            .request(
                Method::POST,
                &format!("/work_pools/{pool}/workers/filter"),
                Some(&body),
            )
            .await
        {
            Ok((_, Value::Array(workers))) => workers
                .iter()
                .filter_map(|w| w.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            _ => BTreeSet::new(),
        }
    }

    async fn reconcile_forever(self: Arc<Self>, cluster: Arc<Cluster>, namespaces: Vec<String>) {
        loop {
            tokio::time::sleep(self.settings.reconcile_every).await;
            if let Err(error) = self.reconcile(&cluster, &namespaces).await {
                tracing::warn!(%error, "reconciling Jobs with their runs failed");
            }
        }
    }

    /// Deletes Jobs still active whose runs have ended (cancelled while no worker ran, crashed by
    /// the server...). Finished Jobs are left to `finished_job_ttl`.
    async fn reconcile(&self, cluster: &Cluster, namespaces: &[String]) -> Result<(), String> {
        for namespace in namespaces {
            let jobs: Api<KubeJob> = Api::namespaced(cluster.client.clone(), namespace);
            let list = jobs
                .list(&ListParams::default().labels(cluster.observer.selector()))
                .await
                .map_err(|e| e.to_string())?;
            let active: Vec<(Uuid, String)> = list
                .items
                .iter()
                .filter(|job| job.status.as_ref().and_then(|s| s.active).unwrap_or(0) > 0)
                .filter(|job| job.metadata.deletion_timestamp.is_none())
                .filter_map(|job| {
                    let id = job.labels().get(manifest::FLOW_RUN_ID_LABEL)?;
                    Some((Uuid::parse_str(id).ok()?, job.name_any()))
                })
                .collect();
            if active.is_empty() {
                continue;
            }
            let ids: Vec<String> = active.iter().map(|(id, _)| id.to_string()).collect();
            let filter = json!({"flow_runs": {"id": {"any_": ids}}, "limit": 200});
            let runs = self
                .api
                .filter_flow_runs(&filter)
                .await
                .map_err(|e| e.to_string())?;
            for run in runs
                .iter()
                .filter(|r| r.state_type.is_some_and(|t| t.is_terminal()))
            {
                if let Some((_, name)) = active.iter().find(|(id, _)| *id == run.id) {
                    tracing::info!(flow_run = %run.id, job = %name, "deleting the active Job of a finished run");
                    if let Err(error) =
                        delete_job(&cluster.client, namespace, name, self.settings.delete_grace)
                            .await
                    {
                        tracing::warn!(%error, "could not delete a Job");
                    }
                }
            }
        }
        Ok(())
    }
}

impl Infrastructure for KubernetesInfrastructure {
    fn pool_type(&self) -> &'static str {
        "kubernetes"
    }

    fn default_template(&self) -> BaseJobTemplate {
        default_kubernetes_template()
    }

    fn start(&self, job: Job) -> BoxFuture<'_, Result<Started, StartError>> {
        Box::pin(self.shared.clone().start(job))
    }

    fn stop(&self, pid: &str, grace: Duration) -> BoxFuture<'_, ()> {
        let pid = pid.to_owned();
        Box::pin(async move {
            let Some((namespace, name)) = parse_pid(&pid) else {
                tracing::warn!(%pid, "not a Kubernetes infrastructure pid");
                return;
            };
            let cluster = self
                .shared
                .pids
                .lock()
                .ok()
                .and_then(|p| p.get(&pid).cloned());
            let client = match cluster {
                Some(cluster) => cluster.client.clone(),
                None => match self.shared.cluster(None, "").await {
                    Ok(cluster) => cluster.client.clone(),
                    Err(error) => {
                        tracing::warn!(%error, "cannot reach the cluster to delete a Job");
                        return;
                    }
                },
            };
            tracing::info!(job = %pid, "deleting the Job of a cancelled run");
            if let Err(error) = delete_job(&client, namespace, name, grace).await {
                tracing::warn!(%error, job = %pid, "could not delete the Job");
            }
        })
    }

    fn resume(&self, start: WorkerStart) -> BoxFuture<'_, Vec<Adopted>> {
        Box::pin(self.shared.clone().resume(start))
    }
}
