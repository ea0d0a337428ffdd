//! The background services' settings of `weir server start`, read from the environment under
//! Prefect's names (`PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS`...) and Weir's
//! (`WEIR_SERVER_SERVICES_...`, which wins), so a Prefect server's settings carry over.

use anyhow::bail;
use std::time::Duration;
use weir_core::env;
use weir_server::ServerConfig;

/// Sets each service setting named in the environment (`lookup` reads a variable); unset ones
/// keep their defaults. A malformed value is an error naming its variable.
pub fn apply(
    config: &mut ServerConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    let read = |suffix: &str| -> Option<(String, String)> {
        env::SERVER_SERVICES_PREFIXES.iter().find_map(|prefix| {
            let name = format!("{prefix}{suffix}");
            lookup(&name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .map(|value| (name, value))
        })
    };
    let number = |suffix: &str| -> anyhow::Result<Option<f64>> {
        let Some((name, text)) = read(suffix) else {
            return Ok(None);
        };
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() && value >= 0.0 => Ok(Some(value)),
            _ => bail!("invalid ${name} {text:?}: expected a number of at least 0"),
        }
    };
    let seconds = |suffix: &str, slot: &mut Duration| -> anyhow::Result<()> {
        if let Some(value) = number(suffix)? {
            *slot = Duration::from_secs_f64(value);
        }
        Ok(())
    };
    seconds("SCHEDULER_LOOP_SECONDS", &mut config.scheduler_interval)?;
    seconds("LATE_RUNS_AFTER_SECONDS", &mut config.late_runs_after)?;
    seconds("ZOMBIES_LOOP_SECONDS", &mut config.zombies_interval)?;
    seconds("ZOMBIES_AFTER_SECONDS", &mut config.zombies_after)?;
    seconds(
        "CANCELLATION_CLEANUP_LOOP_SECONDS",
        &mut config.cancellation_cleanup_interval,
    )?;
    seconds(
        "REPOSSESSOR_LOOP_SECONDS",
        &mut config.lease_repossessor_interval,
    )?;
    seconds("FOREMAN_LOOP_SECONDS", &mut config.foreman_interval)?;
    let timeouts = &mut config.status_timeouts;
    for (suffix, slot) in [
        (
            "FOREMAN_INACTIVITY_HEARTBEAT_MULTIPLE",
            &mut timeouts.inactivity_heartbeat_multiple,
        ),
        (
            "FOREMAN_FALLBACK_HEARTBEAT_INTERVAL_SECONDS",
            &mut timeouts.fallback_heartbeat_interval_seconds,
        ),
        (
            "FOREMAN_WORK_QUEUE_LAST_POLLED_TIMEOUT_SECONDS",
            &mut timeouts.work_queue_last_polled_timeout_seconds,
        ),
        (
            "FOREMAN_DEPLOYMENT_LAST_POLLED_TIMEOUT_SECONDS",
            &mut timeouts.deployment_last_polled_timeout_seconds,
        ),
    ] {
        if let Some(value) = number(suffix)? {
            *slot = value;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apply;
    use std::collections::HashMap;
    use std::time::Duration;
    use weir_server::ServerConfig;

    fn applied(vars: &[(&str, &str)]) -> anyhow::Result<ServerConfig> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut config = ServerConfig::default();
        apply(&mut config, |name| vars.get(name).cloned())?;
        Ok(config)
    }

    #[test]
    fn prefect_names_apply_and_weir_names_win() {
        let config = applied(&[
            ("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "5"),
            ("PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS", "30"),
            ("WEIR_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS", "2.5"),
            (
                "PREFECT_SERVER_SERVICES_FOREMAN_INACTIVITY_HEARTBEAT_MULTIPLE",
                "4",
            ),
        ])
        .unwrap();
        assert_eq!(config.scheduler_interval, Duration::from_secs(5));
        assert_eq!(config.late_runs_after, Duration::from_millis(2500));
        assert_eq!(config.status_timeouts.inactivity_heartbeat_multiple, 4.0);
        let defaults = ServerConfig::default();
        assert_eq!(config.foreman_interval, defaults.foreman_interval);
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for bad in ["soon", "-1", "NaN", "inf"] {
            let error = applied(&[("WEIR_SERVER_SERVICES_FOREMAN_LOOP_SECONDS", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("invalid $WEIR_SERVER_SERVICES_FOREMAN_LOOP_SECONDS"),
                "{error}"
            );
        }
    }
}
