//! The event pipeline: every event (from `/events/in`, `POST /events`, or emitted by the server on a
//! flow-run state change) enters one channel; a single background loop drains it in batches, stores
//! the batch, then feeds `prefect.task-run.*` events to the task-run recorder (in the same batch, so
//! task runs appear within milliseconds), and broadcasts each event to the `/events/out` subscribers.
//!
//! Batching is natural rather than timed: the loop takes whatever has queued up while the previous
//! batch was being written, so an idle server writes each event at once and a busy one writes
//! hundreds per transaction.

use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use weir_core::events::Event;
use weir_storage::Store;

/// How many events one database transaction takes at most.
const MAX_BATCH: usize = 1_000;
/// Events queued before senders wait (back-pressure on busy websockets).
const QUEUE_DEPTH: usize = 20_000;
/// Events a slow `/events/out` subscriber may fall behind before it misses some.
const BROADCAST_DEPTH: usize = 4_096;

/// A cheap-to-clone handle for publishing and subscribing to events.
#[derive(Clone)]
pub struct EventBus {
    sender: mpsc::Sender<Event>,
    broadcast: broadcast::Sender<Arc<Event>>,
}

/// The background loop that owns the receiving end of the channel.
pub struct EventPipeline {
    receiver: mpsc::Receiver<Event>,
    broadcast: broadcast::Sender<Arc<Event>>,
    store: Store,
}

impl EventBus {
    /// A bus and the pipeline that serves it; run the pipeline with [`EventPipeline::run`].
    pub fn new(store: Store) -> (EventBus, EventPipeline) {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let (broadcast, _) = broadcast::channel(BROADCAST_DEPTH);
        let bus = EventBus {
            sender,
            broadcast: broadcast.clone(),
        };
        (
            bus,
            EventPipeline {
                receiver,
                broadcast,
                store,
            },
        )
    }

    /// Queues an event, waiting while the queue is full. Fails only when the server is stopping.
    pub async fn publish(&self, event: Event) -> Result<(), Event> {
        self.sender.send(event).await.map_err(|e| e.0)
    }

    /// A receiver of every event the pipeline processes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.broadcast.subscribe()
    }
}

impl EventPipeline {
    /// Drains the channel until every [`EventBus`] is dropped.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while self.receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.process(&batch).await;
            batch.clear();
        }
    }

    async fn process(&self, batch: &[Event]) {
        let now = weir_core::Timestamp::now();
        let batch: Vec<Event> = batch
            .iter()
            .cloned()
            .map(|mut e| {
                e.received.get_or_insert(now);
                e
            })
            .collect();
        // Events are stored before their effects (task runs) become visible, so a client that sees
        // a task run's state can also find the events that produced it.
        if let Err(err) = self.store.insert_events(&batch).await {
            tracing::error!(error = %err, events = batch.len(), "storing events failed");
        }
        if let Err(err) = self.store.record_task_run_events(&batch).await {
            tracing::error!(error = %err, events = batch.len(), "task-run recorder failed");
        }
        for event in batch {
            // No subscribers is fine: nobody is listening.
            let _ = self.broadcast.send(Arc::new(event));
        }
    }
}
