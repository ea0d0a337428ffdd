//! Zombies: a RUNNING flow run that has sent `prefect.flow-run.heartbeat` events and then fell
//! silent for longer than the threshold is set CRASHED, as Prefect 3's "flow run heartbeat"
//! automation does when a runner's process dies without reporting. Runs that never heartbeated
//! (clients that do not send heartbeats) are left alone: silence proves nothing about them.

use std::time::Duration;
use weir_core::{StateCreate, StateType, Timestamp};
use weir_storage::Store;

/// Crashes every RUNNING run whose last heartbeat is older than `after`, publishing each new
/// state's event on `events`; returns how many.
pub(crate) async fn crash_zombies(
    store: &Store,
    events: &crate::EventBus,
    after: Duration,
) -> Result<usize, String> {
    let cutoff = Timestamp::now().plus_seconds(-after.as_secs_f64());
    let silent = store
        .silent_running_flow_runs(cutoff, 500)
        .await
        .map_err(|e| e.to_string())?;
    let mut crashed = 0;
    for (run, last_heartbeat) in silent {
        // A heartbeat from before the run (re)entered RUNNING belongs to an earlier attempt; the
        // current one has not had `after` to send its first.
        if run.state.as_ref().is_some_and(|s| s.timestamp > cutoff) {
            continue;
        }
        let message = format!(
            "Flow run's heartbeats stopped: none since {}, more than {} s ago; marked as crashed.",
            last_heartbeat.to_canonical(),
            after.as_secs()
        );
        let mut proposal = StateCreate::of_type(StateType::Crashed);
        proposal.message = Some(message);
        match store.set_flow_run_state(run.id, proposal, false).await {
            Ok(outcome) if outcome.written => {
                if let Some(event) = outcome.event {
                    let _ = events.publish(event).await;
                }
                tracing::info!(flow_run = %run.id, "heartbeats stopped; flow run crashed");
                crashed += 1;
            }
            Ok(_) => {}
            // It finished or was deleted meanwhile: nothing to do.
            Err(error) => tracing::debug!(flow_run = %run.id, %error, "zombie not crashed"),
        }
    }
    Ok(crashed)
}
