//! One module per top-level verb of the `weir` command.

pub mod api_key;
pub mod block;
pub mod config;
pub mod deployment;
pub mod flow_run;
pub mod server;
pub mod server_settings;
pub mod variable;
pub mod work_pool;
pub mod work_queue;
pub mod worker;

/// Resolves on Ctrl-C or SIGTERM (how containers are stopped).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
