//! The server a program gets when none is configured: a Weir server started inside the process
//! on the default SQLite file (`$WEIR_HOME/weir.db`), so `cargo run --example hello` works on a
//! fresh machine and its runs show up later in `weir server start`.
//!
//! The server runs on its own thread and tokio runtime, started on first use and kept for the
//! life of the process, so it outlives the runtime of whoever started it (a `#[tokio::test]`, a
//! short `block_on`). Events skip the websocket: they go straight onto the server's event bus,
//! and a finishing flow flushes the bus, so nothing is lost when the program exits right after.

use crate::Error;
use std::sync::OnceLock;
use tokio::sync::oneshot;
use weir_server::EventBus;

/// A running embedded server.
#[derive(Clone)]
pub(crate) struct Embedded {
    /// Its API URL (`http://127.0.0.1:<port>/api`).
    pub url: String,
    /// Its event bus.
    pub events: EventBus,
}

static EMBEDDED: OnceLock<Result<Embedded, String>> = OnceLock::new();
static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The embedded server's API URL, starting the server if it is not running yet.
pub(crate) async fn url() -> Result<String, Error> {
    if let Some(started) = EMBEDDED.get() {
        return started.clone().map(|e| e.url).map_err(Error::Embedded);
    }
    let _one_at_a_time = STARTING.lock().await;
    if EMBEDDED.get().is_none() {
        let started = start().await;
        if let Ok(embedded) = &started {
            tracing::info!(
                url = %embedded.url,
                "no WEIR_API_URL set: started an embedded Weir server on $WEIR_HOME/weir.db"
            );
        }
        let _ = EMBEDDED.set(started);
    }
    let started = EMBEDDED
        .get()
        .cloned()
        .unwrap_or_else(|| Err("not started".into()));
    started.map(|e| e.url).map_err(Error::Embedded)
}

/// The embedded server, if this process runs one at `url`.
pub(crate) fn serving(url: &str) -> Option<Embedded> {
    match EMBEDDED.get() {
        Some(Ok(embedded)) if embedded.url == url => Some(embedded.clone()),
        _ => None,
    }
}

async fn start() -> Result<Embedded, String> {
    let (ready, started) = oneshot::channel();
    std::thread::Builder::new()
        .name("weir-embedded-server".into())
        .spawn(move || serve(ready))
        .map_err(|e| format!("cannot start the embedded server thread: {e}"))?;
    started
        .await
        .map_err(|_| "the embedded server stopped while starting".to_owned())?
}

fn serve(ready: oneshot::Sender<Result<Embedded, String>>) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weir-embedded")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(format!("cannot start a runtime: {error}")));
            return;
        }
    };
    runtime.block_on(async move {
        let path = weir_core::env::weir_home().join("weir.db");
        let store = match weir_storage::Store::open_sqlite_file(&path).await {
            Ok(store) => store,
            Err(error) => {
                let message = format!("cannot open {}: {error}", path.display());
                let _ = ready.send(Err(message));
                return;
            }
        };
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
            Ok(listener) => listener,
            Err(error) => {
                let _ = ready.send(Err(format!("cannot listen on 127.0.0.1: {error}")));
                return;
            }
        };
        let url = match listener.local_addr() {
            Ok(address) => format!("http://{address}/api"),
            Err(error) => {
                let _ = ready.send(Err(format!("cannot read the listening address: {error}")));
                return;
            }
        };
        let server = weir_server::Server::new(store, weir_server::ServerConfig::default());
        let events = server.events();
        let _ = ready.send(Ok(Embedded { url, events }));
        if let Err(error) = server.serve(listener, std::future::pending()).await {
            tracing::error!(%error, "the embedded server stopped");
        }
    });
}
