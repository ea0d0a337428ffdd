//! Flow-run heartbeats: while a flow run's body runs, a background task sends a
//! `prefect.flow-run.heartbeat` event every interval through the run's event sender, as Prefect 3's
//! runner does, so the server's zombies service can tell a run whose process died from a slow one.
//! The beat stops when the [`Heartbeat`] guard is dropped; it never blocks the flow.

use std::time::Duration;
use uuid::Uuid;
use weir_client::events::EventSender;
use weir_core::env;

/// The interval when neither variable is set (Prefect's automation crashes a run after 90 s).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The heartbeat interval from `WEIR_FLOW_RUN_HEARTBEAT_SECONDS` or
/// `PREFECT_RUNNER_HEARTBEAT_FREQUENCY`; `None` when set to 0 (heartbeats off).
pub(crate) fn interval() -> Option<Duration> {
    let value = env::first_set(&[
        env::WEIR_FLOW_RUN_HEARTBEAT_SECONDS,
        env::PREFECT_RUNNER_HEARTBEAT_FREQUENCY,
    ]);
    parse_interval(value.as_deref())
}

fn parse_interval(value: Option<&str>) -> Option<Duration> {
    let Some(value) = value else {
        return Some(DEFAULT_INTERVAL);
    };
    match value.parse::<f64>() {
        Ok(0.0) => None,
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Some(Duration::from_secs_f64(seconds))
        }
        _ => {
            tracing::warn!(value, "bad flow-run heartbeat interval; using 30 s");
            Some(DEFAULT_INTERVAL)
        }
    }
}

/// Which flow run beats.
pub(crate) struct Beating {
    pub flow_run_id: Uuid,
    pub flow_run_name: String,
    pub flow_id: Uuid,
    pub flow_name: String,
}

/// Sends heartbeats until dropped.
pub(crate) struct Heartbeat(Option<tokio::task::JoinHandle<()>>);

impl Heartbeat {
    /// Starts beating for `run` every `every` (the first beat at once) on the current runtime;
    /// `None` starts nothing.
    pub(crate) fn start(events: &EventSender, run: Beating, every: Option<Duration>) -> Heartbeat {
        let Some(every) = every else {
            return Heartbeat(None);
        };
        let events = events.clone();
        Heartbeat(Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                events.send(weir_core::events::flow_run_heartbeat_event(
                    run.flow_run_id,
                    &run.flow_run_name,
                    run.flow_id,
                    &run.flow_name,
                    weir_core::Timestamp::now(),
                    Uuid::new_v4(),
                ));
            }
        })))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_client::events::EventCommand;

    #[test]
    fn the_interval_defaults_to_30_s_and_0_turns_it_off() {
        assert_eq!(parse_interval(None), Some(Duration::from_secs(30)));
        assert_eq!(parse_interval(Some("5")), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_interval(Some("0.5")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_interval(Some("0")), None);
        assert_eq!(parse_interval(Some("soon")), Some(Duration::from_secs(30)));
        assert_eq!(parse_interval(Some("-1")), Some(Duration::from_secs(30)));
    }

    #[tokio::test]
    async fn a_running_flow_beats_until_the_guard_drops() {
        let (events, mut rx) = EventSender::channel();
        let run = Beating {
            flow_run_id: Uuid::new_v4(),
            flow_run_name: "quick-fox".into(),
            flow_id: Uuid::new_v4(),
            flow_name: "etl".into(),
        };
        let id = run.flow_run_id;
        let beat = Heartbeat::start(&events, run, Some(Duration::from_millis(20)));
        for _ in 0..3 {
            let Some(EventCommand::Event(event)) = rx.recv().await else {
                panic!("a heartbeat event")
            };
            assert_eq!(event.event, "prefect.flow-run.heartbeat");
            assert_eq!(event.resource_id(), format!("prefect.flow-run.{id}"));
            assert_eq!(weir_core::events::heartbeat_flow_run(&event), Some(id));
        }
        drop(beat);
        drop(events);
        // Once the beat has stopped and the last sender is gone, the channel ends.
        while let Some(command) = rx.recv().await {
            assert!(
                matches!(command, EventCommand::Event(_)),
                "only beats queued before the drop"
            );
        }
        let none = Heartbeat::start(
            &EventSender::channel().0,
            Beating {
                flow_run_id: id,
                flow_run_name: String::new(),
                flow_id: id,
                flow_name: String::new(),
            },
            None,
        );
        assert!(none.0.is_none(), "an interval of None starts nothing");
    }
}
