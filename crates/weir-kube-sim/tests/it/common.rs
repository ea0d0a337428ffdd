//! Helpers shared by the integration tests: a simulator with an in-process kube client, Job
//! builders, and waiting on conditions through watches rather than sleeps.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Client, Resource};
use serde_json::json;
use weir_kube_sim::{Config, Simulator};

/// A simulator and a kube client talking to it without a socket.
pub fn start(config: Config) -> (Simulator, Client) {
    let sim = Simulator::with_config(config);
    let client = Client::new(sim.router(), "default");
    (sim, client)
}

/// A simulator whose clock runs `speed` times faster than real time.
pub fn fast(speed: f64) -> (Simulator, Client) {
    start(Config {
        clock_speed: speed,
        ..Config::default()
    })
}

/// A Job running `echo hi` in busybox, with an optional scenario annotation.
pub fn job(name: &str, scenario: Option<&str>) -> Job {
    let mut annotations = serde_json::Map::new();
    if let Some(s) = scenario {
        annotations.insert("weir.dev/scenario".into(), s.into());
    }
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36", "command": ["echo", "hi"]}]
                }
            }
        }
    }))
    .expect("valid job")
}

/// Creates a Job.
pub async fn create_job(client: &Client, job: &Job) -> Job {
    let api: Api<Job> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), job)
        .await
        .expect("job created")
}

/// The HTTP code of an API error.
pub fn code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Waits (by watching) until `cond` holds for the named object.
pub async fn wait_for<K, F>(api: &Api<K>, name: &str, cond: F) -> K
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    F: Fn(&K) -> bool,
{
    let waited = tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(api.clone(), name, move |o: Option<&K>| o.is_some_and(&cond)),
    )
    .await;
    match waited {
        Ok(Ok(Some(obj))) => obj,
        Ok(other) => panic!("waiting for {name} failed: {other:?}"),
        Err(_) => panic!(
            "timed out waiting for {name}: last state {:?}",
            api.get_opt(name).await
        ),
    }
}

/// Waits until the named object is gone.
pub async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let waited = tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(api.clone(), name, |o: Option<&K>| o.is_none()),
    )
    .await;
    if waited.is_err() {
        panic!(
            "timed out waiting for {name} to go: {:?}",
            api.get_opt(name).await
        );
    }
}

/// The condition types of a Job with status True, in order.
pub fn condition_types(job: &Job) -> Vec<String> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.status == "True")
                .map(|c| c.type_.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a Job has a terminal condition.
pub fn finished(job: &Job) -> bool {
    condition_types(job)
        .iter()
        .any(|c| c == "Complete" || c == "Failed")
}

/// A unique scratch directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-kube-sim-{tag}-{}", uuid_like()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}
