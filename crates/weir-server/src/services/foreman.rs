//! The foreman, as Prefect's foreman service: each pass finds the work pools, work queues and
//! deployments whose status changed since it was last announced (the last worker of a pool went
//! OFFLINE → the pool is NOT_READY; a queue or deployment not polled within its timeout → NOT_READY;
//! a heartbeat or a poll → READY) and emits Prefect's `prefect.work-pool.<status>`,
//! `prefect.work-queue.<status>` and `prefect.deployment.<status>` events for them.
//!
//! Statuses stay computed on read (`weir_core::work_pools`, with the server's timeouts), so reads
//! are never behind; the foreman keeps, per resource, the status it last announced in the store,
//! and announces a change only after claiming it there, so each change is emitted once across
//! restarts and servers. A heartbeat or a poll that makes a pool or queue READY wakes the foreman,
//! so READY is announced at once, as Prefect does; NOT_READY waits for the next pass. Paused pools and queues are PAUSED and the foreman leaves them alone: it
//! emits nothing for them, and announces their status again only once they are unpaused and it
//! differs from what was last announced. Workers have no events of their own (as in Prefect); their
//! ONLINE/OFFLINE status decides their pool's.

use std::collections::{HashMap, HashSet};
use uuid::Uuid;
use weir_core::events::Event;
use weir_core::status_events::{
    deployment_status_event, status_name, work_pool_status_event, work_queue_status_event,
};
use weir_core::work_pools::{WorkPool, WorkPoolStatus, WorkQueue, WorkQueueStatus};
use weir_core::Timestamp;
use weir_storage::{EmittedStatus, Store};

/// The status a pool, queue or deployment has before anything was announced for it.
const INITIAL_STATUS: &str = "NOT_READY";
/// How recent a pool's previous status event must be for the next one to name it in `follows`
/// (Prefect's rule).
const FOLLOWS_WITHIN_SECONDS: f64 = 600.0;

/// One pass: emits an event for every pool, queue and deployment whose status changed; returns
/// how many events were emitted.
pub(crate) async fn announce_status_changes(
    store: &Store,
    events: &crate::EventBus,
) -> Result<usize, String> {
    let mut pass = Pass {
        store,
        events,
        announced: store.emitted_statuses().await.map_err(|e| e.to_string())?,
        seen: HashSet::new(),
        emitted: 0,
    };
    let pools = store.list_work_pools().await.map_err(|e| e.to_string())?;
    let mut queues: HashMap<Uuid, WorkQueue> = HashMap::new();
    for pool in &pools {
        let pool_queues = store
            .list_work_queues(pool.id)
            .await
            .map_err(|e| e.to_string())?;
        if pool.status != Some(WorkPoolStatus::Paused) {
            let status = status_name(&pool.status);
            let follows = pass.recent_event_of(&pool_id(pool));
            let event = || work_pool_status_event(pool, &status, follows);
            pass.observe(pool_id(pool), &status, event).await?;
        } else {
            pass.seen.insert(pool_id(pool));
        }
        for queue in pool_queues {
            let resource_id = format!("prefect.work-queue.{}", queue.id);
            if queue.status != Some(WorkQueueStatus::Paused) {
                let status = status_name(&queue.status);
                let event = || work_queue_status_event(&queue, Some(pool), &status);
                pass.observe(resource_id, &status, event).await?;
            } else {
                pass.seen.insert(resource_id);
            }
            queues.insert(queue.id, queue);
        }
    }
    let pools_by_id: HashMap<Uuid, &WorkPool> = pools.iter().map(|p| (p.id, p)).collect();
    let deployments = store.list_deployments().await.map_err(|e| e.to_string())?;
    for deployment in &deployments {
        let status = status_name(&deployment.status);
        let queue = deployment.work_queue_id.and_then(|id| queues.get(&id));
        let pool = queue
            .and_then(|q| q.work_pool_id)
            .and_then(|id| pools_by_id.get(&id).copied());
        let flow_name = store.flow_name(deployment.flow_id).await.ok();
        let event =
            || deployment_status_event(deployment, flow_name.as_deref(), queue, pool, &status);
        let resource_id = format!("prefect.deployment.{}", deployment.id);
        pass.observe(resource_id, &status, event).await?;
    }
    pass.forget_the_deleted().await?;
    Ok(pass.emitted)
}

fn pool_id(pool: &WorkPool) -> String {
    format!("prefect.work-pool.{}", pool.id)
}

/// What one pass knows and has done.
struct Pass<'a> {
    store: &'a Store,
    events: &'a crate::EventBus,
    /// The status last announced per resource id, as read at the start of the pass.
    announced: HashMap<String, EmittedStatus>,
    /// The resource ids that still exist.
    seen: HashSet<String>,
    emitted: usize,
}

impl Pass<'_> {
    /// The id of the resource's last status event, if it was emitted recently.
    fn recent_event_of(&self, resource_id: &str) -> Option<Uuid> {
        let last = self.announced.get(resource_id)?;
        let age = Timestamp::now().seconds_since(&last.emitted);
        (age < FOLLOWS_WITHIN_SECONDS).then_some(last.event_id)
    }

    /// Emits `event()` when `status` differs from what was last announced for `resource_id` and
    /// this pass claims the change.
    async fn observe(
        &mut self,
        resource_id: String,
        status: &str,
        event: impl FnOnce() -> Event,
    ) -> Result<(), String> {
        let previous = self.announced.get(&resource_id).map(|a| a.status.as_str());
        self.seen.insert(resource_id.clone());
        if previous.unwrap_or(INITIAL_STATUS) == status {
            return Ok(());
        }
        let event = event();
        let claimed = self
            .store
            .claim_status_change(&resource_id, previous, status, event.id)
            .await
            .map_err(|e| e.to_string())?;
        if claimed {
            tracing::info!(resource = %resource_id, event = %event.event, "status changed");
            let _ = self.events.publish(event).await;
            self.emitted += 1;
        }
        Ok(())
    }

    /// Drops the records of pools, queues and deployments that no longer exist.
    async fn forget_the_deleted(&self) -> Result<(), String> {
        let gone: Vec<String> = self
            .announced
            .keys()
            .filter(|id| !self.seen.contains(*id))
            .cloned()
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        self.store
            .forget_emitted_statuses(&gone)
            .await
            .map_err(|e| e.to_string())
    }
}
