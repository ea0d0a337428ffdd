//! Cancellation cleanup, as Prefect's CancellationCleanup service: cancelling a flow run stops its
//! own process, but subflow runs it started may be left going (their parent is gone and nobody
//! will finish them), and a run set CANCELLING that no worker or infrastructure holds (no
//! deployment, no `infrastructure_pid`) has nobody to confirm the cancellation. Both are set
//! CANCELLED (forced, as Prefect does: these runs' own clients cannot report any more).

use std::time::Duration;
use weir_core::{StateCreate, StateType, Timestamp};
use weir_storage::Store;

/// Cancels unfinished subflow runs of CANCELLED runs, and runs CANCELLING for longer than
/// `after` without a worker or infrastructure, publishing each new state's event; returns how
/// many runs were cancelled.
pub(crate) async fn clean_up(
    store: &Store,
    events: &crate::EventBus,
    after: Duration,
) -> Result<usize, String> {
    let subflows = store
        .unfinished_subflows_of_cancelled_runs(500)
        .await
        .map_err(|e| e.to_string())?;
    let mut cancelled = 0;
    for run in subflows {
        cancelled += cancel(store, events, run.id, "The parent flow run was cancelled.").await;
    }
    let cutoff = Timestamp::now().plus_seconds(-after.as_secs_f64());
    let cancelling = store
        .cancelling_flow_runs_without_deployment(500)
        .await
        .map_err(|e| e.to_string())?;
    for run in cancelling {
        let since = run.state.as_ref().map(|s| s.timestamp);
        if run.infrastructure_pid.is_some() || since.is_none_or(|t| t > cutoff) {
            continue;
        }
        let message = format!(
            "Cancelled: the run was cancelling for more than {} s with no worker or \
             infrastructure to stop it.",
            after.as_secs()
        );
        cancelled += cancel(store, events, run.id, &message).await;
    }
    Ok(cancelled)
}

/// Forces a CANCELLED state with `message`; 1 when written.
async fn cancel(store: &Store, events: &crate::EventBus, id: uuid::Uuid, message: &str) -> usize {
    let mut proposal = StateCreate::of_type(StateType::Cancelled);
    proposal.message = Some(message.to_owned());
    match store.set_flow_run_state(id, proposal, true).await {
        Ok(outcome) if outcome.written => {
            if let Some(event) = outcome.event {
                let _ = events.publish(event).await;
            }
            tracing::info!(flow_run = %id, message, "flow run cancelled by cleanup");
            1
        }
        Ok(_) => 0,
        Err(error) => {
            tracing::debug!(flow_run = %id, %error, "not cancelled by cleanup");
            0
        }
    }
}
