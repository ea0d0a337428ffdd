//! The server's background services, each a supervised loop: an iteration that fails is logged
//! and the loop goes on at its next tick; one that panics is caught the same way.

pub(crate) mod cancellation_cleanup;
pub(crate) mod foreman;
pub(crate) mod late_runs;
pub(crate) mod lease_repossessor;
pub(crate) mod scheduler;
pub(crate) mod zombies;

use std::future::Future;
use std::time::Duration;
use tokio::sync::Notify;

/// Runs `iteration` every `every`, and at once whenever `wake` is notified, forever.
pub(crate) async fn supervise<F, Fut>(
    name: &'static str,
    every: Duration,
    wake: &Notify,
    iteration: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    loop {
        match tokio::spawn(iteration()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(service = name, %error, "service iteration failed"),
            Err(panic) => tracing::error!(service = name, %panic, "service iteration panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = wake.notified() => {}
        }
    }
}
