//! The simulator's controllable clock.
//!
//! Timestamps and every controller deadline (pod run time, back-off, `activeDeadlineSeconds`,
//! `ttlSecondsAfterFinished`) are read from this clock. It runs at a configurable speed relative to
//! real time and can be moved forward by hand, so a test can skip a five-minute deadline instantly.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// Simulated time: `start + elapsed_real * speed + advanced`.
#[derive(Debug)]
pub struct Clock {
    start_wall: DateTime<Utc>,
    start: Instant,
    speed: f64,
    advanced: Mutex<Duration>,
    pub(crate) moved: Notify,
}

impl Clock {
    /// A clock starting now that runs `speed` times faster than real time.
    pub fn new(speed: f64) -> Self {
        Clock {
            start_wall: Utc::now(),
            start: Instant::now(),
            speed: if speed > 0.0 { speed } else { 1.0 },
            advanced: Mutex::new(Duration::ZERO),
            moved: Notify::new(),
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        let real = self.start.elapsed().mul_f64(self.speed);
        let advanced = *self.advanced.lock().unwrap_or_else(|e| e.into_inner());
        self.start_wall + chrono::Duration::from_std(real + advanced).unwrap_or_default()
    }

    /// Moves simulated time forward by `by` and wakes the controllers.
    pub fn advance(&self, by: Duration) {
        *self.advanced.lock().unwrap_or_else(|e| e.into_inner()) += by;
        self.moved.notify_one();
    }

    /// How fast simulated time runs relative to real time.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The real duration that corresponds to `sim` simulated time.
    pub fn real_duration(&self, sim: Duration) -> Duration {
        sim.div_f64(self.speed)
    }
}
