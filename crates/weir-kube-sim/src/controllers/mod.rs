//! The simulated control plane: garbage collector, namespace controller, Job and Deployment
//! controllers and the fake kubelet, run in one loop on the simulated clock.
//!
//! The loop wakes on every store change, on clock advances and on a short tick, and runs each
//! controller once over the whole store. Controllers write through the store like any client
//! (without RBAC or faults), and write only when something changes, so the loop settles.

pub(crate) mod deployment;
pub(crate) mod gc;
pub(crate) mod job;
pub(crate) mod kubelet;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use serde_json::{json, Value};

use crate::meta;
use crate::resources::known;
use crate::sim::Shared;

/// In-memory state of the controllers.
#[derive(Default)]
pub(crate) struct State {
    pub kubelet: HashMap<String, kubelet::PodRun>,
    pub job_backoff: HashMap<String, chrono::DateTime<chrono::Utc>>,
    pub last_event_sweep: Option<std::time::Instant>,
}

pub(crate) fn spawn(shared: Weak<Shared>) {
    tokio::spawn(async move {
        loop {
            let Some(sim) = shared.upgrade() else { return };
            run_once(&sim);
            {
                // The simulator stays alive for at most one tick while the loop waits.
                let changed = sim.store.changed.notified();
                let moved = sim.clock.moved.notified();
                tokio::select! {
                    _ = changed => {}
                    _ = moved => {}
                    _ = tokio::time::sleep(sim.config.tick) => {}
                }
            }
            drop(sim);
            // Let a burst of writes land before the next pass.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
}

fn run_once(sim: &Arc<Shared>) {
    let sweep = {
        let mut state = sim.controllers.lock().unwrap_or_else(|e| e.into_inner());
        let due = state
            .last_event_sweep
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1));
        if due {
            state.last_event_sweep = Some(std::time::Instant::now());
        }
        due
    };
    if sweep {
        gc::expire_events(sim);
    }
    gc::collect(sim);
    gc::namespaces(sim);
    job::reconcile_all(sim);
    deployment::reconcile_all(sim);
    kubelet::reconcile_all(sim);
}

/// Records a core/v1 Event about `involved`.
pub(crate) fn record_event(
    sim: &Shared,
    involved: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    let now = sim.clock.now();
    let ns = meta::namespace(involved);
    let ns = if ns.is_empty() { "default" } else { ns };
    let event = json!({
        "metadata": {"name": format!("{}.{:x}", meta::name(involved), rand::random::<u64>()), "namespace": ns},
        "involvedObject": {
            "kind": involved["kind"],
            "namespace": meta::namespace(involved),
            "name": meta::name(involved),
            "uid": meta::uid(involved),
            "apiVersion": involved["apiVersion"],
            "resourceVersion": meta::resource_version(involved),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component, "host": if component == "kubelet" { kubelet::NODE } else { "" }},
        "firstTimestamp": meta::time(now),
        "lastTimestamp": meta::time(now),
        "count": 1,
        "type": kind,
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": "",
    });
    if let Err(err) = sim.store.create(known::events(), event, false, |_| Ok(())) {
        tracing::debug!(%err, "could not record event");
    }
}
