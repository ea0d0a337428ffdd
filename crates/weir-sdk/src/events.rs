//! Where a flow's events go: the `/events/in` websocket of the configured server (through
//! [`weir_client::events::EventSender`]), or, with the server embedded in the process, straight
//! onto its event bus.

use crate::config::ApiConfig;
#[cfg(feature = "embedded-server")]
use weir_client::events::EventCommand as Command;
use weir_client::events::EventSender;

/// Starts a sender for the server of `config` on the current tokio runtime.
pub(crate) fn start(config: &ApiConfig) -> EventSender {
    #[cfg(feature = "embedded-server")]
    if let Some(embedded) = crate::embedded::serving(&config.url) {
        let (sender, rx) = EventSender::channel();
        tokio::spawn(run_in_process(embedded.events, rx));
        return sender;
    }
    EventSender::connect(&config.url, &config.auth)
}

/// Publishes straight onto the event bus of the server embedded in this process; a flush waits
/// until the server has stored everything before it.
#[cfg(feature = "embedded-server")]
async fn run_in_process(
    bus: weir_server::EventBus,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Command>,
) {
    while let Some(command) = rx.recv().await {
        match command {
            Command::Event(event) => {
                if bus.publish(*event).await.is_err() {
                    tracing::warn!("the embedded server has stopped; an event was dropped");
                }
            }
            Command::Flush(done) => {
                bus.flush().await;
                let _ = done.send(());
            }
        }
    }
}
