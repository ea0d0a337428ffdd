//! Late runs: a SCHEDULED flow run still waiting `after` past its scheduled time is marked Late (a
//! SCHEDULED state named Late, keeping its scheduled time), as Prefect's MarkLateRuns service
//! does, so the UI and `flow-run ls` show which runs no worker picked up. Workers still pick Late
//! runs up like any other scheduled run.

use std::time::Duration;
use weir_core::{StateCreate, StateType, Timestamp};
use weir_storage::Store;

/// Marks every run late by more than `after`; returns how many were marked.
pub(crate) async fn mark_late_runs(store: &Store, after: Duration) -> Result<usize, String> {
    let cutoff = Timestamp::now().plus_seconds(-after.as_secs_f64());
    let late = store
        .late_flow_runs(cutoff, 500)
        .await
        .map_err(|e| e.to_string())?;
    let mut marked = 0;
    for run in late {
        let mut proposal = StateCreate::of_type(StateType::Scheduled).named("Late");
        proposal.state_details.scheduled_time = run
            .state
            .as_ref()
            .and_then(|s| s.state_details.scheduled_time)
            .or(run.next_scheduled_start_time);
        match store.set_flow_run_state(run.id, proposal, false).await {
            Ok(outcome) if outcome.written => marked += 1,
            Ok(_) => {}
            // A worker claimed it meanwhile, or it was deleted: nothing to do.
            Err(error) => tracing::debug!(flow_run = %run.id, %error, "not marked late"),
        }
    }
    Ok(marked)
}
