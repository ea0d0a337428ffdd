//! The event pipeline: every event (from `/events/in`, `POST /events`, or emitted by the server on a
//! flow-run state change) enters one channel; a single background loop drains it in batches, stores
//! the batch, then feeds `prefect.task-run.*` events to the task-run recorder (in the same batch, so
//! task runs appear within milliseconds), records `prefect.flow-run.heartbeat` times for the zombies
//! service, and broadcasts each event to the `/events/out` subscribers.
//!
//! Batching is natural rather than timed: the loop takes whatever has queued up while the previous
//! batch was being written, so an idle server writes each event at once and a busy one writes
//! hundreds per transaction.

use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use weir_core::events::Event;
use weir_storage::Store;

/// How many events one database transaction takes at most.
const MAX_BATCH: usize = 1_000;
/// Events queued before senders wait (back-pressure on busy websockets).
const QUEUE_DEPTH: usize = 20_000;
/// Events a slow `/events/out` subscriber may fall behind before it misses some.
const BROADCAST_DEPTH: usize = 4_096;

/// What travels through the pipeline's channel.
enum Queued {
    Event(Box<Event>),
    /// Answered once every event queued before it has been processed.
    Barrier(oneshot::Sender<()>),
}

/// A cheap-to-clone handle for publishing and subscribing to events.
#[derive(Clone)]
pub struct EventBus {
    sender: mpsc::Sender<Queued>,
    broadcast: broadcast::Sender<Arc<Event>>,
}

/// The background loop that owns the receiving end of the channel.
pub struct EventPipeline {
    receiver: mpsc::Receiver<Queued>,
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
        self.sender
            .send(Queued::Event(Box::new(event)))
            .await
            .map_err(|e| match e.0 {
                Queued::Event(event) => *event,
                Queued::Barrier(_) => unreachable!("an event was sent"),
            })
    }

    /// Waits until every event published before this call has been stored and recorded (an
    /// in-process client calls it before its process exits). Returns at once when the pipeline
    /// has stopped.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Queued::Barrier(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// A receiver of every event the pipeline processes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.broadcast.subscribe()
    }
}

impl EventPipeline {
    /// Drains the channel until every [`EventBus`] is dropped.
    pub async fn run(mut self) {
        let mut queued = Vec::with_capacity(MAX_BATCH);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut barriers = Vec::new();
        while self.receiver.recv_many(&mut queued, MAX_BATCH).await > 0 {
            for item in queued.drain(..) {
                match item {
                    Queued::Event(event) => batch.push(*event),
                    Queued::Barrier(done) => barriers.push(done),
                }
            }
            if !batch.is_empty() {
                self.process(&batch).await;
                batch.clear();
            }
            // A barrier only waits for what was queued before it, all of which was in this batch.
            for done in barriers.drain(..) {
                let _ = done.send(());
            }
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
        // Heartbeats are timed by the server's clock (`received`), so a client's skewed clock
        // cannot make its run look silent, or alive.
        let beats: Vec<_> = batch
            .iter()
            .filter_map(|e| Some((weir_core::events::heartbeat_flow_run(e)?, e.received?)))
            .collect();
        if !beats.is_empty() {
            if let Err(err) = self.store.record_flow_run_heartbeats(&beats).await {
                tracing::error!(error = %err, "recording flow-run heartbeats failed");
            }
        }
        for event in batch {
            // No subscribers is fine: nobody is listening.
            let _ = self.broadcast.send(Arc::new(event));
        }
    }
}
