//! Fault injection: the failures a real cluster produces now and then, on demand.
//!
//! Rules match requests by method and path and fire a number of times: 429 with `Retry-After`,
//! 500, a delayed answer, or a 409 stale-version conflict on the next write. Open watches can be
//! dropped mid-stream. Faults apply to API requests only, never to the simulator's own controllers.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

/// One kind of injected failure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fault {
    /// 429 TooManyRequests with a `Retry-After` header.
    TooManyRequests {
        /// Seconds in the `Retry-After` header.
        #[serde(default = "one")]
        retry_after: u64,
    },
    /// 500 InternalError.
    ServerError,
    /// Answer normally after a delay.
    Delay {
        /// Milliseconds to wait.
        millis: u64,
    },
    /// 409 Conflict for a write, as if another writer had just changed the object: the object also
    /// gets a new resourceVersion, so stale retries keep failing until the client re-reads.
    StaleConflict,
}

fn one() -> u64 {
    1
}

/// A fault and the requests it applies to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// The failure.
    pub fault: Fault,
    /// Only requests with this HTTP method (e.g. `POST`).
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path contains this text.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// How many times it fires; unlimited when absent.
    #[serde(default)]
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule matching every request, firing `times` times.
    pub fn new(fault: Fault, times: u32) -> Self {
        FaultRule {
            fault,
            method: None,
            path_contains: None,
            times: Some(times),
        }
    }

    /// Restricts the rule to one HTTP method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Restricts the rule to paths containing `text`.
    pub fn path_contains(mut self, text: &str) -> Self {
        self.path_contains = Some(text.to_string());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let write = matches!(method, "PUT" | "PATCH" | "POST" | "DELETE");
        (self.fault != Fault::StaleConflict || write)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// The simulator's fault table.
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    drops: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Mutex::new(Vec::new()),
            drops: watch::channel(0).0,
        }
    }
}

impl Faults {
    /// Adds a rule; rules are tried in the order added.
    pub fn add(&self, rule: FaultRule) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Makes the next write (PUT, PATCH, POST or DELETE) fail with a 409 stale-version conflict.
    pub fn conflict_next_write(&self) {
        self.add(FaultRule::new(Fault::StaleConflict, 1));
    }

    /// Makes the next `n` requests fail with 429 and `Retry-After: retry_after`.
    pub fn throttle(&self, n: u32, retry_after: u64) {
        self.add(FaultRule::new(Fault::TooManyRequests { retry_after }, n));
    }

    /// Delays every request by `by`, until cleared.
    pub fn slow(&self, by: Duration) {
        self.add(FaultRule {
            fault: Fault::Delay {
                millis: by.as_millis() as u64,
            },
            method: None,
            path_contains: None,
            times: None,
        });
    }

    /// Cuts every open watch and `follow` log stream without a clean end.
    pub fn drop_watches(&self) {
        self.drops.send_modify(|n| *n += 1);
    }

    pub(crate) fn watch_drops(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    /// The fault to apply to a request, consuming one firing.
    pub(crate) fn take(&self, method: &str, path: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let idx = rules.iter().position(|r| r.matches(method, path))?;
        let fault = rules[idx].fault.clone();
        if let Some(times) = rules[idx].times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                rules.remove(idx);
            }
        }
        Some(fault)
    }
}
