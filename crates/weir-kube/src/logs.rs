//! Container output as flow-run log lines: lines are queued without blocking and written to
//! `/api/logs/` in batches (every 100 lines or half a second).

use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use weir_core::schemas::LogCreate;
use weir_core::Timestamp;

const BATCH: usize = 100;
const EVERY: Duration = Duration::from_millis(500);

enum Command {
    Line(String),
    Flush(oneshot::Sender<()>),
}

/// A handle to one run's log writer; cheap to clone.
#[derive(Clone)]
pub struct LogShipper {
    tx: mpsc::UnboundedSender<Command>,
}

impl LogShipper {
    pub fn new(api: weir_client::Client, flow_run_id: Uuid) -> LogShipper {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(ship(api, flow_run_id, rx));
        LogShipper { tx }
    }

    /// Queues one line of output.
    pub fn line(&self, line: String) {
        let _ = self.tx.send(Command::Line(line));
    }

    /// Waits until every line queued so far is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        }
    }
}

async fn ship(
    api: weir_client::Client,
    flow_run_id: Uuid,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let mut batch: Vec<LogCreate> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let command = if batch.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(EVERY, rx.recv()).await {
                Ok(command) => command,
                Err(_) => {
                    write(&api, &mut batch).await;
                    continue;
                }
            }
        };
        match command {
            Some(Command::Line(line)) => {
                batch.push(LogCreate {
                    name: "weir.kubernetes.pod".into(),
                    level: 20,
                    message: line,
                    timestamp: Timestamp::now(),
                    flow_run_id: Some(flow_run_id),
                    task_run_id: None,
                });
                if batch.len() >= BATCH {
                    write(&api, &mut batch).await;
                }
            }
            Some(Command::Flush(done)) => {
                write(&api, &mut batch).await;
                waiting.push(done);
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
            None => {
                write(&api, &mut batch).await;
                return;
            }
        }
    }
}

async fn write(api: &weir_client::Client, batch: &mut Vec<LogCreate>) {
    if batch.is_empty() {
        return;
    }
    if let Err(error) = api.create_logs(batch).await {
        tracing::warn!(%error, lines = batch.len(), "could not write the pod's output to the flow-run log");
    }
    batch.clear();
}
