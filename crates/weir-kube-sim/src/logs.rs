//! Container logs written by the fake kubelet and served by `pods/{name}/log`.
//!
//! Each container of each pod (by pod uid) has an append-only buffer of timestamped lines, the index
//! where each container instance (restart) began, and a flag saying the current instance has
//! terminated, which ends `follow` streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// Timestamped log lines.
pub type Lines = Vec<(DateTime<Utc>, String)>;

/// One container's log.
#[derive(Debug)]
pub struct LogBuf {
    lines: Mutex<(Lines, bool)>,
    starts: Mutex<Vec<usize>>,
    version: watch::Sender<u64>,
}

impl LogBuf {
    fn new() -> Self {
        LogBuf {
            lines: Mutex::new((Vec::new(), false)),
            starts: Mutex::new(vec![0]),
            version: watch::channel(0).0,
        }
    }

    /// Appends one line.
    pub fn push(&self, at: DateTime<Utc>, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .push((at, line));
        self.version.send_modify(|v| *v += 1);
    }

    /// Marks the container terminated; followers stop after the last line.
    pub fn finish(&self) {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.version.send_modify(|v| *v += 1);
    }

    /// Starts a new container instance (a restart): earlier lines become the `previous` log.
    pub fn restart(&self) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.1 = false;
        self.starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(lines.0.len());
    }

    /// Where the current container instance's lines begin.
    pub fn current_start(&self) -> usize {
        self.starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .copied()
            .unwrap_or(0)
    }

    /// The lines of the previous container instance, if there was one.
    pub fn previous(&self) -> Option<Lines> {
        let starts = self
            .starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let [.., from, to] = starts.as_slice() else {
            return None;
        };
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.0.get(*from..*to).map(<[_]>::to_vec)
    }

    /// Lines from index `from` on, and whether the container has terminated.
    pub fn read_from(&self, from: usize) -> (Lines, bool) {
        let guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        (
            guard.0.get(from..).map(<[_]>::to_vec).unwrap_or_default(),
            guard.1,
        )
    }

    /// A receiver that changes whenever a line is added or the log finishes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

/// All container logs.
#[derive(Debug, Default)]
pub struct LogStore {
    bufs: Mutex<HashMap<(String, String), Arc<LogBuf>>>,
}

impl LogStore {
    /// The log of `container` in the pod with `uid`, created if absent.
    pub fn buf(&self, uid: &str, container: &str) -> Arc<LogBuf> {
        self.bufs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((uid.to_string(), container.to_string()))
            .or_insert_with(|| Arc::new(LogBuf::new()))
            .clone()
    }

    /// Drops the logs of a pod that no longer exists.
    pub fn forget_pod(&self, uid: &str) {
        let bufs = {
            let mut map = self.bufs.lock().unwrap_or_else(|e| e.into_inner());
            let keys: Vec<_> = map.keys().filter(|(u, _)| u == uid).cloned().collect();
            keys.into_iter()
                .filter_map(|k| map.remove(&k))
                .collect::<Vec<_>>()
        };
        for b in bufs {
            b.finish();
        }
    }
}
