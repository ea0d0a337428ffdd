//! The process worker's infrastructure: each flow run is a local process.
//!
//! The command is the job's rendered `command`, else derived from the deployment's entrypoint: a
//! Weir flow binary (any entrypoint that is not a Python `file.py:flow`) runs as
//! `<entrypoint> execute`, a Python one as `python -m prefect.engine`. The process gets the
//! worker's environment, the rendered `env` (a `null` value removes a variable), and what the
//! flow needs to find its run: `PREFECT__FLOW_RUN_ID`/`WEIR_FLOW_RUN_ID`, the API URL and auth.
//! It runs in the rendered `working_dir` or a fresh temporary folder, in its own process group
//! so that stopping it also stops what it started. `infrastructure_pid` is `<hostname>:<pid>`.

use crate::command;
use crate::{Exit, Infrastructure, Job, StartError, Started};
use futures::future::BoxFuture;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use weir_client::Auth;
use weir_core::env;
use weir_core::job_template::{default_process_template, BaseJobTemplate};

/// Starts flow runs as local processes.
pub struct ProcessInfrastructure {
    api_url: String,
    auth: Auth,
}

impl ProcessInfrastructure {
    /// Processes that report to the server at `api_url` with `auth`.
    pub fn new(api_url: impl Into<String>, auth: Auth) -> ProcessInfrastructure {
        ProcessInfrastructure {
            api_url: api_url.into(),
            auth,
        }
    }

    /// The program and arguments for a job.
    fn argv(job: &Job) -> Result<Vec<String>, StartError> {
        if let Some(Value::String(command)) = job.configuration.get("command") {
            if !command.trim().is_empty() {
                return command::split(command).map_err(|e| StartError(e.to_string()));
            }
        }
        match job.entrypoint.as_deref() {
            Some(entrypoint) if is_python_entrypoint(entrypoint) => {
                Ok(vec!["python".into(), "-m".into(), "prefect.engine".into()])
            }
            Some(entrypoint) => Ok(vec![entrypoint.to_owned(), "execute".into()]),
            None => Err(StartError(
                "the run has no deployment entrypoint and its job has no command".into(),
            )),
        }
    }
}

/// `flows/etl.py:nightly` (Prefect's `path:function`) rather than a program.
pub fn is_python_entrypoint(entrypoint: &str) -> bool {
    entrypoint
        .rsplit_once(':')
        .is_some_and(|(path, function)| path.ends_with(".py") && !function.contains('/'))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Infrastructure for ProcessInfrastructure {
    fn pool_type(&self) -> &'static str {
        "process"
    }

    fn default_template(&self) -> BaseJobTemplate {
        default_process_template()
    }

    fn start(&self, job: Job) -> BoxFuture<'_, Result<Started, StartError>> {
        Box::pin(async move {
            let argv = Self::argv(&job)?;
            let mut command = tokio::process::Command::new(&argv[0]);
            command.args(&argv[1..]);
            if let Some(Value::Object(vars)) = job.configuration.get("env") {
                for (name, value) in vars {
                    match value {
                        Value::Null => {
                            command.env_remove(name);
                        }
                        Value::String(text) => {
                            command.env(name, text);
                        }
                        other => {
                            command.env(name, other.to_string());
                        }
                    }
                }
            }
            let id = job.flow_run.id.to_string();
            command
                .env(env::PREFECT_FLOW_RUN_ID, &id)
                .env(env::WEIR_FLOW_RUN_ID, &id)
                .env(env::PREFECT_API_URL, &self.api_url)
                .env(env::WEIR_API_URL, &self.api_url);
            match &self.auth {
                Auth::None => {}
                Auth::Basic(secret) => {
                    command
                        .env(env::PREFECT_API_AUTH_STRING, secret)
                        .env(env::WEIR_API_AUTH_STRING, secret);
                }
                Auth::Bearer(key) => {
                    // Prefect's client sends PREFECT_API_KEY over HTTP but not on its events
                    // websocket (there only the auth string); Weir accepts a key as either, so a
                    // Python flow reports its task runs too. Weir's SDK prefers WEIR_API_KEY.
                    command
                        .env(env::PREFECT_API_KEY, key)
                        .env(env::PREFECT_API_AUTH_STRING, key)
                        .env(env::WEIR_API_KEY, key);
                }
            }
            let temporary = match job.configuration.get("working_dir") {
                Some(Value::String(dir)) if !dir.is_empty() => {
                    command.current_dir(dir);
                    None
                }
                _ => {
                    let dir = std::env::temp_dir().join(format!("weir-run-{id}"));
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| StartError(format!("cannot create {}: {e}", dir.display())))?;
                    command.current_dir(&dir);
                    Some(dir)
                }
            };
            let stream = !matches!(
                job.configuration.get("stream_output"),
                Some(Value::Bool(false))
            );
            if !stream {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
            command
                .stdin(Stdio::null())
                .process_group(0)
                .kill_on_drop(false);
            let mut child = command
                .spawn()
                .map_err(|e| StartError(format!("cannot run {:?}: {e}", argv[0])))?;
            let pid = child
                .id()
                .ok_or_else(|| StartError("the process exited at once".into()))?;
            let exit = Box::pin(async move {
                let status = child.wait().await.ok();
                if let Some(dir) = temporary {
                    let _ = std::fs::remove_dir_all(dir);
                }
                Exit::code(status.and_then(|s| s.code()))
            });
            Ok(Started {
                pid: format!("{}:{pid}", hostname()),
                exit,
            })
        })
    }

    fn stop(&self, pid: &str, grace: Duration) -> BoxFuture<'_, ()> {
        let pid = pid.rsplit(':').next().unwrap_or(pid).to_owned();
        Box::pin(async move {
            if pid.parse::<u32>().is_err() {
                tracing::warn!(%pid, "not a process id; nothing to stop");
                return;
            }
            let group = format!("-{pid}");
            signal("TERM", &group).await;
            let deadline = tokio::time::Instant::now() + grace;
            while tokio::time::Instant::now() < deadline {
                if !signal("0", &pid).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            signal("KILL", &group).await;
        })
    }
}

/// Sends a signal with `kill` (the crate has no unsafe code for libc); whether it was delivered.
async fn signal(name: &str, target: &str) -> bool {
    tokio::process::Command::new("kill")
        .args([&format!("-{name}"), "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_entrypoints_are_told_from_programs() {
        assert!(is_python_entrypoint("flows/etl.py:nightly"));
        assert!(!is_python_entrypoint("/usr/local/bin/etl"));
        assert!(!is_python_entrypoint("C:/flows/etl"));
    }
}
