//! Submitted task runs: `my_task::submit(..)` and `my_task::map(..)` start calls on the tokio
//! runtime and hand back futures of their values, like Prefect's `PrefectFuture`s.
//!
//! A submitted call keeps the flow run and server of its caller (tokio-local context does not
//! cross `tokio::spawn` by itself), and the flow run waits for its submitted calls before it
//! finishes, so no task run outlives its flow run's final state.

use crate::config::ApiConfig;
use crate::context::FlowContext;
use futures::future::{join_all, BoxFuture, JoinAll};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The value of a submitted task call, once it has finished. Awaiting it gives the task's return
/// value; a panic that escaped the task runtime resumes in the awaiting task.
#[must_use = "a submitted task runs anyway; await the handle to get its value"]
pub struct TaskFuture<R> {
    handle: JoinHandle<R>,
}

impl<R> TaskFuture<R> {
    /// Whether the call has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<R> Future for TaskFuture<R> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        match Pin::new(&mut self.handle).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            Poll::Ready(Err(error)) if error.is_panic() => {
                std::panic::resume_unwind(error.into_panic())
            }
            Poll::Ready(Err(_)) => panic!("a submitted task was cancelled with its runtime"),
        }
    }
}

/// The handles of a `map`: iterate over them, or await them all for the values in order.
#[must_use = "mapped tasks run anyway; await them to get their values"]
pub struct TaskFutures<R>(Vec<TaskFuture<R>>);

impl<R> TaskFutures<R> {
    /// How many calls were started.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no call was started.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<R> FromIterator<TaskFuture<R>> for TaskFutures<R> {
    fn from_iter<I: IntoIterator<Item = TaskFuture<R>>>(iter: I) -> Self {
        TaskFutures(iter.into_iter().collect())
    }
}

impl<R> IntoIterator for TaskFutures<R> {
    type Item = TaskFuture<R>;
    type IntoIter = std::vec::IntoIter<TaskFuture<R>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<R> IntoFuture for TaskFutures<R> {
    type Output = Vec<R>;
    type IntoFuture = JoinAll<TaskFuture<R>>;

    fn into_future(self) -> Self::IntoFuture {
        join_all(self.0)
    }
}

/// Starts `call` on the tokio runtime with the caller's flow run and server.
pub(crate) fn spawn<R: Send + 'static>(call: BoxFuture<'static, R>) -> TaskFuture<R> {
    let flow = FlowContext::current();
    let api = ApiConfig::scoped();
    let guard = flow.as_ref().map(|flow| flow.submitted.enter());
    let call = async move {
        let _running = guard;
        let call = match api {
            Some(api) => Box::pin(crate::config::with_api(api, call)),
            None => call,
        };
        match flow {
            Some(flow) => flow.scope(call).await,
            None => call.await,
        }
    };
    TaskFuture {
        handle: tokio::spawn(call),
    }
}

/// Counts the calls a flow run has submitted and not yet finished.
pub(crate) struct Submitted {
    running: watch::Sender<usize>,
}

impl Submitted {
    pub(crate) fn new() -> Submitted {
        Submitted {
            running: watch::Sender::new(0),
        }
    }

    fn enter(&self) -> Running {
        self.running.send_modify(|n| *n += 1);
        Running {
            running: self.running.clone(),
        }
    }

    /// Waits until every submitted call has finished.
    pub(crate) async fn wait_idle(&self) {
        let mut watcher = self.running.subscribe();
        let _ = watcher.wait_for(|n| *n == 0).await;
    }
}

/// One submitted call in progress; finishing (or being dropped with its task) ends it.
struct Running {
    running: watch::Sender<usize>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running.send_modify(|n| *n = n.saturating_sub(1));
    }
}
