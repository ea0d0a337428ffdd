//! Ships events to `/api/events/in` the way the Prefect 3 client does: over a websocket with the
//! `prefect` subprotocol, an auth frame first, then one JSON event per text frame.
//!
//! [`EventSender::send`] only pushes onto an unbounded channel, so reporting never blocks a task. A
//! background tokio task drains the channel in batches, (re)connects as needed and retries a batch
//! whose connection broke. [`EventSender::flush`] waits until everything sent before it has been
//! written to the socket; a flow calls it before it returns so no event is lost at exit.

use crate::Auth;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use weir_core::events::Event;

/// Events written per batch at most, before the sender checks for flushes again.
const MAX_BATCH: usize = 500;
/// Pause between reconnection attempts.
const RECONNECT_DELAY: Duration = Duration::from_millis(200);
/// Connection attempts for one batch before it is dropped (and a warning logged).
const MAX_ATTEMPTS: u32 = 25;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the sender's channel carries: an event, or a request to report once all before it left.
pub enum EventCommand {
    Event(Box<Event>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the background sender; cheap to clone. The sender stops once every handle is gone.
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<EventCommand>,
}

impl EventSender {
    /// Starts a sender writing to the `/events/in` websocket of the server at `api_url`, on the
    /// current tokio runtime.
    pub fn connect(api_url: &str, auth: &Auth) -> EventSender {
        let (sender, rx) = EventSender::channel();
        let url = crate::websocket_url(api_url, "/events/in");
        tokio::spawn(run(url, auth.websocket_token(), rx));
        sender
    }

    /// A sender whose commands land on the returned receiver, for whoever delivers them some
    /// other way (an in-process server's event bus, a test).
    pub fn channel() -> (EventSender, mpsc::UnboundedReceiver<EventCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (EventSender { tx }, rx)
    }

    /// Queues an event; never blocks.
    pub fn send(&self, event: Event) {
        if self.tx.send(EventCommand::Event(Box::new(event))).is_err() {
            tracing::warn!("event sender has stopped; an event was dropped");
        }
    }

    /// Waits (at most `limit`) until every event queued before this call has been written.
    pub async fn flush(&self, limit: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(EventCommand::Flush(done)).is_ok()
            && tokio::time::timeout(limit, wait).await.is_err()
        {
            tracing::warn!(?limit, "events were not all delivered in time");
        }
    }
}

async fn run(url: String, token: Option<String>, mut rx: mpsc::UnboundedReceiver<EventCommand>) {
    let mut socket: Option<Socket> = None;
    let mut batch: Vec<EventCommand> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        deliver(&url, token.as_deref(), &mut socket, &mut batch).await;
    }
    if let Some(mut socket) = socket {
        let _ = socket.close(None).await;
    }
}

/// Writes a batch in order, answering flushes as it reaches them. A broken connection is
/// reopened and the unwritten rest retried.
async fn deliver(
    url: &str,
    token: Option<&str>,
    socket: &mut Option<Socket>,
    batch: &mut Vec<EventCommand>,
) {
    let mut attempts = 0;
    let mut pending = std::mem::take(batch).into_iter().peekable();
    loop {
        while let Some(EventCommand::Flush(done)) =
            pending.next_if(|m| matches!(m, EventCommand::Flush(_)))
        {
            let _ = done.send(());
        }
        if pending.peek().is_none() {
            return;
        }
        if socket.is_none() {
            match connect(url, token).await {
                Ok(opened) => *socket = Some(opened),
                Err(error) => {
                    attempts += 1;
                    if attempts >= MAX_ATTEMPTS {
                        let dropped = pending
                            .filter(|m| matches!(m, EventCommand::Event(_)))
                            .count();
                        tracing::warn!(%error, %url, dropped, "cannot reach the events websocket");
                        return;
                    }
                    tracing::debug!(%error, %url, "events websocket unavailable; retrying");
                    tokio::time::sleep(RECONNECT_DELAY).await;
                    continue;
                }
            }
        }
        let Some(open) = socket.as_mut() else {
            continue;
        };
        let mut written = 0usize;
        let mut failed = None;
        // Write events up to the next flush, then push them out with one flush of the socket.
        let mut held: Vec<EventCommand> = Vec::new();
        while let Some(message) = pending.next_if(|m| matches!(m, EventCommand::Event(_))) {
            if let EventCommand::Event(event) = &message {
                let text = serde_json::to_string(event).unwrap_or_default();
                if let Err(error) = open.feed(Message::Text(text.into())).await {
                    failed = Some(error);
                    held.push(message);
                    break;
                }
                written += 1;
                held.push(message);
            }
        }
        if failed.is_none() {
            if let Err(error) = open.flush().await {
                failed = Some(error);
            }
        }
        if let Some(error) = failed {
            // The connection broke: what was fed may not have arrived, so send it again. The server
            // keeps the newest state per task run, so a duplicate state row is the worst case.
            tracing::debug!(%error, written, "events websocket broke; reconnecting");
            *socket = None;
            let rest: Vec<EventCommand> = held.into_iter().chain(pending).collect();
            pending = rest.into_iter().peekable();
            attempts += 1;
            if attempts >= MAX_ATTEMPTS {
                tracing::warn!(%url, "giving up on a batch of events");
                return;
            }
            continue;
        }
        attempts = 0;
    }
}

async fn connect(url: &str, token: Option<&str>) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        http_value("prefect").map_err(|e| e.to_string())?,
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let auth = serde_json::json!({ "type": "auth", "token": token }).to_string();
    socket
        .send(Message::Text(auth.into()))
        .await
        .map_err(|e| e.to_string())?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("auth_success") => Ok(socket),
        Some(Ok(other)) => Err(format!("unexpected answer to the auth frame: {other}")),
        Some(Err(error)) => Err(error.to_string()),
        None => Err("the server closed the events websocket during auth".to_owned()),
    }
}

fn http_value(
    text: &str,
) -> Result<
    tokio_tungstenite::tungstenite::http::HeaderValue,
    tokio_tungstenite::tungstenite::http::header::InvalidHeaderValue,
> {
    tokio_tungstenite::tungstenite::http::HeaderValue::from_str(text)
}
