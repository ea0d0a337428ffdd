//! Run logs: `tracing` events emitted inside a flow or task become log lines on the server, with
//! the flow-run and task-run ids, as Prefect's run loggers do — and are still printed locally.
//!
//! [`layer`] is a `tracing_subscriber` layer that picks up every event emitted while a flow run is
//! in scope and hands it to that run's [`LogSender`], which posts batches to `/api/logs/` from a
//! background task (an event never waits for the network). A program that installs no subscriber
//! gets one at its first flow call ([`init`]: printed lines plus the layer); a program with its
//! own subscriber adds `weir_sdk::logging::layer()` to it.

use crate::context::FlowContext;
use std::fmt::Write as _;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;
use uuid::Uuid;
use weir_client::Client;
use weir_core::schemas::LogCreate;
use weir_core::{env, Timestamp};

/// Log lines posted per request at most.
const MAX_BATCH: usize = 1_000;
/// Attempts to post one batch before it is dropped (and a warning printed).
const MAX_ATTEMPTS: u32 = 5;

/// The task run a piece of code belongs to, for the logs it emits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskRunScope {
    pub id: Uuid,
    pub log_prints: bool,
}

tokio::task_local! {
    static TASK_RUN: TaskRunScope;
}

impl TaskRunScope {
    /// Runs `future` as (part of) this task run.
    pub(crate) async fn scope<F: std::future::Future>(self, future: F) -> F::Output {
        TASK_RUN.scope(self, future).await
    }

    /// Runs blocking `body` as (part of) this task run.
    pub(crate) fn sync_scope<R>(self, body: impl FnOnce() -> R) -> R {
        TASK_RUN.sync_scope(self, body)
    }

    /// The task run in scope, if any.
    pub(crate) fn current() -> Option<TaskRunScope> {
        TASK_RUN.try_with(|scope| *scope).ok()
    }
}

/// Prefect's numeric log levels.
fn prefect_level(level: &Level) -> i64 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

/// The lowest level shipped: `$WEIR_LOGGING_LEVEL` / `$PREFECT_LOGGING_LEVEL`, default INFO.
pub(crate) fn shipped_level() -> i64 {
    match env::first_set(&[env::WEIR_LOGGING_LEVEL, env::PREFECT_LOGGING_LEVEL])
        .map(|l| l.to_ascii_uppercase())
        .as_deref()
    {
        Some("CRITICAL" | "ERROR") => 40,
        Some("WARNING" | "WARN") => 30,
        Some("DEBUG") => 10,
        Some("TRACE") => 5,
        _ => 20,
    }
}

/// Targets whose events are never shipped: the HTTP and websocket machinery the SDK itself uses
/// to ship logs, which would otherwise log about logging.
const QUIET_TARGETS: &[&str] = &[
    "hyper",
    "reqwest",
    "h2",
    "tungstenite",
    "tokio_tungstenite",
    "rustls",
    "tower",
    "mio",
];

/// The layer that ships run logs; add it to your own subscriber.
pub fn layer<S: Subscriber>() -> impl Layer<S> {
    RunLogLayer
}

/// Installs a subscriber that prints events to stderr (filtered by `RUST_LOG`, default `info`) and
/// ships run logs. Does nothing when a global subscriber is already installed. Stdout stays the
/// program's own (the `run` subcommand prints the flow's result there).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .with(RunLogLayer)
        .try_init();
}

/// Installs [`init`]'s subscriber unless the program installed one.
pub(crate) fn ensure_installed() {
    if !tracing::dispatcher::has_been_set() {
        init();
    }
}

struct RunLogLayer;

impl<S: Subscriber> Layer<S> for RunLogLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        let target = metadata.target();
        let quiet = |crate_name: &&str| {
            target == *crate_name
                || target
                    .strip_prefix(crate_name)
                    .is_some_and(|rest| rest.starts_with("::"))
        };
        if QUIET_TARGETS.iter().any(quiet) {
            return;
        }
        let Some(flow) = FlowContext::current() else {
            return;
        };
        let level = prefect_level(metadata.level());
        if level < flow.logs.level {
            return;
        }
        let mut message = MessageText::default();
        event.record(&mut message);
        flow.logs.send(LogCreate {
            name: target.to_owned(),
            level,
            message: message.finish(),
            timestamp: Timestamp::now(),
            flow_run_id: Some(flow.flow_run_id),
            task_run_id: TaskRunScope::current().map(|t| t.id),
        });
    }
}

/// An event's text: its message, then its other fields as `key=value`.
#[derive(Default)]
struct MessageText {
    message: String,
    fields: String,
}

impl MessageText {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for MessageText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.field(field, format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }
}

impl MessageText {
    fn field(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        // The run a line belongs to is in its ids already; its name would only repeat it.
        if matches!(field.name(), "task_run" | "flow_run") {
            return;
        }
        if !self.fields.is_empty() {
            self.fields.push(' ');
        }
        let _ = write!(self.fields, "{}={value}", field.name());
    }
}

enum Command {
    Log(LogCreate),
    Flush(oneshot::Sender<()>),
}

/// A handle to a flow run's background log poster; cheap to clone.
#[derive(Clone)]
pub(crate) struct LogSender {
    tx: mpsc::UnboundedSender<Command>,
    /// The lowest level shipped.
    pub level: i64,
}

impl LogSender {
    /// Starts a poster to `client`'s server on the current tokio runtime.
    pub(crate) fn start(client: Client) -> LogSender {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(post_batches(client, rx));
        LogSender {
            tx,
            level: shipped_level(),
        }
    }

    /// A sender whose lines go nowhere (unit tests).
    #[cfg(test)]
    pub(crate) fn disconnected() -> LogSender {
        let (tx, _) = mpsc::unbounded_channel();
        LogSender { tx, level: 20 }
    }

    /// Queues a log line; never blocks.
    pub(crate) fn send(&self, log: LogCreate) {
        let _ = self.tx.send(Command::Log(log));
    }

    /// Waits (at most `limit`) until every line queued before this call has been posted.
    pub(crate) async fn flush(&self, limit: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok()
            && tokio::time::timeout(limit, wait).await.is_err()
        {
            eprintln_warning("run logs were not all delivered in time");
        }
    }
}

async fn post_batches(client: Client, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    let mut logs = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while rx.recv_many(&mut queued, MAX_BATCH).await > 0 {
        for command in queued.drain(..) {
            match command {
                Command::Log(log) => logs.push(log),
                Command::Flush(done) => flushes.push(done),
            }
        }
        if !logs.is_empty() {
            post(&client, &logs).await;
            logs.clear();
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn post(client: &Client, logs: &[LogCreate]) {
    for attempt in 1..=MAX_ATTEMPTS {
        match client.create_logs(logs).await {
            Ok(()) => return,
            Err(error) if attempt == MAX_ATTEMPTS => {
                // Not through `tracing`: inside a flow that would queue yet another log line.
                eprintln_warning(&format!("dropped {} run log lines: {error}", logs.len()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await,
        }
    }
}

#[allow(clippy::print_stderr)]
fn eprintln_warning(message: &str) {
    eprintln!("weir-sdk: {message}");
}

/// `log_print!`: prints a line, and ships it to the run's logs when the task (or, outside tasks,
/// the flow) has `log_prints` on.
#[doc(hidden)]
#[allow(clippy::print_stdout)]
pub fn log_print(line: std::fmt::Arguments<'_>) {
    let text = line.to_string();
    println!("{text}");
    let Some(flow) = FlowContext::current() else {
        return;
    };
    let task = TaskRunScope::current();
    let wanted = task.map_or(flow.log_prints, |t| t.log_prints);
    if wanted {
        flow.logs.send(LogCreate {
            name: "weir.print".to_owned(),
            level: 20,
            message: text,
            timestamp: Timestamp::now(),
            flow_run_id: Some(flow.flow_run_id),
            task_run_id: task.map(|t| t.id),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_map_to_prefect_numbers() {
        assert_eq!(prefect_level(&Level::WARN), 30);
        assert_eq!(prefect_level(&Level::INFO), 20);
    }
}
