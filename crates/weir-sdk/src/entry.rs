//! The command line of a binary whose flows workers run: [`crate::main!`] turns a list of flows
//! into a `main` with these subcommands.
//!
//! ```text
//! my-flows run <flow> [--param name=value]... [--params '{"name": value}']
//! my-flows execute [--flow-run-id ID]      (default: $WEIR_FLOW_RUN_ID or $PREFECT__FLOW_RUN_ID)
//! my-flows flows                           (the flows and their parameter schemas, as JSON)
//! my-flows deploy --pool P [--name N] [--work-queue Q] [--image I] [--job-variable k=v]... [--param k=v]...
//!                 [--cron EXPR | --interval SECONDS] [--timezone TZ] [--tag T]... [--flow F]...
//! my-flows serve [--name N] [--cron EXPR | --interval SECONDS] [--timezone TZ] [--flow F]...
//! ```
//!
//! `deploy` registers a deployment per flow whose entrypoint is this binary (workers of the pool
//! then start `<binary> execute`); `serve` registers deployments without a pool and executes
//! their runs inside this process until it is stopped.
//!
//! `run` creates a new flow run; `execute` runs an existing one — what a worker starts the binary
//! for — reading its parameters from the server and reporting its states there. A value given to
//! `--param` is read as JSON when it parses (`--param n=3`, `--param tags='["a"]'`) and as text
//! otherwise (`--param name=Ada`). Exit codes: 0 the flow completed, 1 it failed, 2 bad usage.

use crate::config::ApiConfig;
use crate::options::{CallError, FlowFn, Options};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::io::Write;
use std::process::ExitCode;
use uuid::Uuid;
use weir_core::{env, StateCreate, StateType};

/// Declares a binary's `main` that runs the given flows from the command line (see
/// [`crate::entry`]):
///
/// ```no_run
/// use weir_sdk::flow;
///
/// #[flow]
/// async fn nightly(day: String) -> anyhow::Result<()> { Ok(()) }
///
/// weir_sdk::main!(nightly);
/// ```
#[macro_export]
macro_rules! main {
    ($($flow:path),+ $(,)?) => {
        fn main() -> ::std::process::ExitCode {
            $crate::entry::Program::new(::core::env!("CARGO_PKG_NAME"))
                $(.flow::<$flow>())+
                .run_from_args()
        }
    };
}

struct Registered {
    options: &'static Options,
    run_json: crate::deploy::RunJson,
    schema: fn() -> Value,
}

/// A binary's flows and the command line that runs them.
pub struct Program {
    name: String,
    flows: Vec<Registered>,
}

/// Why a command did not complete: the message, and the exit code.
struct Failed(String, u8);

impl Program {
    /// A program called `name` (used in its help text).
    pub fn new(name: impl Into<String>) -> Program {
        Program {
            name: name.into(),
            flows: Vec::new(),
        }
    }

    /// Adds a `#[flow]` (with owned arguments) to the program.
    pub fn flow<F: FlowFn>(mut self) -> Program {
        self.flows.push(Registered {
            options: F::options(),
            run_json: F::run_json,
            schema: F::parameter_schema,
        });
        self
    }

    /// Runs the command given on the process's command line.
    pub fn run_from_args(self) -> ExitCode {
        self.run(std::env::args().skip(1).collect())
    }

    /// Runs a command (the arguments after the program name).
    pub fn run(self, args: Vec<String>) -> ExitCode {
        ExitCode::from(self.exit_code(args))
    }

    /// Runs a command and returns its exit code (0 completed, 1 failed, 2 bad usage). Starts
    /// its own tokio runtime, so it must not be called from inside one.
    pub fn exit_code(self, args: Vec<String>) -> u8 {
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime,
            Err(error) => return self.fail(Failed(format!("cannot start tokio: {error}"), 1)),
        };
        match runtime.block_on(self.dispatch(&args)) {
            Ok(()) => 0,
            Err(failed) => self.fail(failed),
        }
    }

    #[allow(clippy::print_stderr)]
    fn fail(&self, Failed(message, code): Failed) -> u8 {
        eprintln!("{}: {message}", self.name);
        code
    }

    async fn dispatch(&self, args: &[String]) -> Result<(), Failed> {
        match args.first().map(String::as_str) {
            Some("run") => self.run_command(&args[1..]).await,
            Some("execute") => self.execute_command(&args[1..]).await,
            Some("flows") => self.list_flows(),
            Some("deploy") => self.deploy_command(&args[1..], false).await,
            Some("serve") => self.deploy_command(&args[1..], true).await,
            Some("help" | "--help" | "-h") | None => {
                print_out(&self.help());
                Ok(())
            }
            Some(other) => Err(usage(format!(
                "unknown command `{other}`; expected run, execute, flows, deploy or serve (see --help)"
            ))),
        }
    }

    fn help(&self) -> String {
        let names: Vec<&str> = self.flows.iter().map(|f| &*f.options.name).collect();
        format!(
            "usage:\n  {0} run <flow> [--param name=value]... [--params JSON]\n  \
             {0} execute [--flow-run-id ID]   (default: $WEIR_FLOW_RUN_ID or $PREFECT__FLOW_RUN_ID)\n  \
             {0} flows\n  \
             {0} deploy --pool P [--name N] [--work-queue Q] [--image I] [--job-variable k=v]... \
             [--cron EXPR | --interval SECONDS] [--timezone TZ] [--tag T]... [--flow F]...\n  \
             {0} serve [--name N] [--cron EXPR | --interval SECONDS] [--timezone TZ] [--flow F]...\n\
             flows: {1}\n",
            self.name,
            names.join(", ")
        )
    }

    fn find(&self, name: &str) -> Result<&Registered, Failed> {
        self.flows
            .iter()
            .find(|f| f.options.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.flows.iter().map(|f| &*f.options.name).collect();
                usage(format!(
                    "no flow named `{name}` in this program (it has: {})",
                    names.join(", ")
                ))
            })
    }

    async fn run_command(&self, args: &[String]) -> Result<(), Failed> {
        let Some(name) = args.first() else {
            return Err(usage("`run` needs a flow name".into()));
        };
        let flow = self.find(name)?;
        let parameters = parse_parameters(&args[1..])?;
        let value = (flow.run_json)(Cow::Borrowed(flow.options), parameters)
            .await
            .map_err(|message| Failed(format!("flow run failed: {message}"), 1))?;
        print_out(&format!("{value}\n"));
        Ok(())
    }

    async fn execute_command(&self, args: &[String]) -> Result<(), Failed> {
        let id = match args {
            [] => env::first_set(&[env::WEIR_FLOW_RUN_ID, env::PREFECT_FLOW_RUN_ID]).ok_or_else(
                || {
                    usage(
                        "no flow run to execute: pass --flow-run-id or set WEIR_FLOW_RUN_ID".into(),
                    )
                },
            )?,
            [flag, id] if flag == "--flow-run-id" => id.clone(),
            _ => return Err(usage("usage: execute [--flow-run-id ID]".into())),
        };
        let id: Uuid = id
            .parse()
            .map_err(|_| usage(format!("`{id}` is not a flow run id (a UUID)")))?;
        let config = ApiConfig::resolve()
            .await
            .map_err(|e| Failed(e.to_string(), 1))?;
        let client = weir_client::Client::new(&config.url, config.auth.clone());
        let run = client
            .read_flow_run(id)
            .await
            .map_err(|e| Failed(format!("cannot read flow run {id}: {e}"), 1))?;
        let flow_name = client
            .read_flow(run.flow_id)
            .await
            .map_err(|e| Failed(format!("cannot read the flow of run {id}: {e}"), 1))?
            .name;
        let flow = match self.find(&flow_name) {
            Ok(flow) => flow,
            Err(Failed(message, code)) => {
                fail_run(&client, id, &message).await;
                return Err(Failed(message, code));
            }
        };
        let outcome = crate::flow::adopting(
            id,
            (flow.run_json)(Cow::Borrowed(flow.options), run.parameters.clone()),
        )
        .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(CallError::Parameter(message)) => {
                // The body never started: the run would stay Pending without this.
                let message = format!("Validation of flow parameters failed with error: {message}");
                fail_run(&client, id, &message).await;
                Err(Failed(message, 1))
            }
            Err(CallError::Failed(message)) => {
                Err(Failed(format!("flow run failed: {message}"), 1))
            }
        }
    }

    async fn deploy_command(&self, args: &[String], serve: bool) -> Result<(), Failed> {
        let spec = parse_deploy(args)?;
        if serve && spec.pool.is_some() {
            return Err(usage(
                "`serve` runs flows itself: it takes no --pool".into(),
            ));
        }
        if !serve && spec.pool.is_none() {
            return Err(usage("`deploy` needs --pool (or use `serve`)".into()));
        }
        let chosen: Vec<&Registered> = self
            .flows
            .iter()
            .filter(|f| spec.flows.is_empty() || spec.flows.iter().any(|n| *n == f.options.name))
            .collect();
        for name in &spec.flows {
            self.find(name)?;
        }
        let flows: Vec<crate::deploy::DeployedFlow<'_>> = chosen
            .iter()
            .map(|f| crate::deploy::DeployedFlow {
                options: f.options,
                schema: (f.schema)(),
            })
            .collect();
        let entrypoint = std::env::current_exe()
            .map_err(|e| Failed(format!("cannot find this program's path: {e}"), 1))?
            .display()
            .to_string();
        let config = ApiConfig::resolve()
            .await
            .map_err(|e| Failed(e.to_string(), 1))?;
        let client = weir_client::Client::new(&config.url, config.auth.clone());
        let registered = crate::deploy::register(&client, &flows, &spec, &entrypoint)
            .await
            .map_err(|e| Failed(e, 1))?;
        let deployment_name = spec.name.clone().unwrap_or_else(|| "default".to_owned());
        for (flow, id) in &registered {
            print_out(&format!("deployed {flow}/{deployment_name} ({id})\n"));
        }
        if !serve {
            return Ok(());
        }
        let served = registered
            .iter()
            .zip(&chosen)
            .map(|((_, id), flow)| (*id, (flow.options, flow.run_json)))
            .collect();
        print_out("serving; stop with Ctrl-C\n");
        crate::deploy::serve(&client, served, 1.0)
            .await
            .map_err(|e| Failed(e, 1))
    }

    fn list_flows(&self) -> Result<(), Failed> {
        let flows: Vec<Value> = self
            .flows
            .iter()
            .map(|flow| {
                serde_json::json!({
                    "name": flow.options.name,
                    "description": flow.options.description,
                    "version": flow.options.version,
                    "parameter_schema": (flow.schema)(),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&flows).unwrap_or_default();
        print_out(&format!("{text}\n"));
        Ok(())
    }
}

/// Marks a run that cannot start as Failed, so it does not stay Pending.
async fn fail_run(client: &weir_client::Client, id: Uuid, message: &str) {
    let mut failed = StateCreate::of_type(StateType::Failed);
    failed.message = Some(message.to_owned());
    if let Err(error) = client.set_flow_run_state(id, &failed, false).await {
        tracing::warn!(%error, "could not mark the flow run failed");
    }
}

/// The options of `deploy` and `serve`.
fn parse_deploy(args: &[String]) -> Result<crate::deploy::DeploySpec, Failed> {
    let mut spec = crate::deploy::DeploySpec::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| usage(format!("`{flag}` needs a value")))
        };
        match flag {
            "--pool" | "-p" => spec.pool = Some(value()?),
            "--name" | "-n" => spec.name = Some(value()?),
            "--work-queue" | "-q" => spec.queue = Some(value()?),
            "--image" => spec.image = Some(value()?),
            "--cron" => spec.cron = Some(value()?),
            "--timezone" => spec.timezone = Some(value()?),
            "--tag" => spec.tags.push(value()?),
            "--flow" => spec.flows.push(value()?),
            "--interval" => {
                let text = value()?;
                let seconds: f64 =
                    text.parse()
                        .ok()
                        .filter(|s: &f64| *s > 0.0)
                        .ok_or_else(|| {
                            usage(format!(
                                "`--interval {text}`: expected a positive number of seconds"
                            ))
                        })?;
                spec.interval = Some(seconds);
            }
            "--param" => {
                let (name, parsed) = name_value("--param", &value()?, "n=3")?;
                spec.parameters.insert(name, parsed);
            }
            "--job-variable" | "-jv" => {
                let (name, parsed) = name_value("--job-variable", &value()?, "image=etl:1")?;
                spec.job_variables.insert(name, parsed);
            }
            other => return Err(usage(format!("unknown option `{other}`"))),
        }
    }
    Ok(spec)
}

/// `name=value` of a `flag`: the value as JSON when it parses, else as text.
fn name_value(flag: &str, pair: &str, example: &str) -> Result<(String, Value), Failed> {
    let Some((name, text)) = pair.split_once('=') else {
        return Err(usage(format!(
            "`{flag} {pair}`: expected name=value, e.g. {flag} {example}"
        )));
    };
    let parsed = serde_json::from_str(text).unwrap_or_else(|_| Value::from(text.to_owned()));
    Ok((name.to_owned(), parsed))
}

fn usage(message: String) -> Failed {
    Failed(message, 2)
}

fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// `--param name=value` (value as JSON when it parses, else text) and `--params JSON`.
fn parse_parameters(args: &[String]) -> Result<Map<String, Value>, Failed> {
    let mut parameters = Map::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| usage(format!("`{flag}` needs a value")))
        };
        match flag {
            "--param" | "-p" => {
                let (name, parsed) = name_value("--param", &value()?, "n=3")?;
                parameters.insert(name, parsed);
            }
            "--params" => {
                let text = value()?;
                match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(map)) => parameters.extend(map),
                    _ => {
                        return Err(usage(format!(
                            "`--params {text}`: expected a JSON object, e.g. '{{\"n\": 3}}'"
                        )))
                    }
                }
            }
            other => return Err(usage(format!("unknown option `{other}`"))),
        }
    }
    Ok(parameters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(args: &[&str]) -> Result<Map<String, Value>, String> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        parse_parameters(&args).map_err(|Failed(message, _)| message)
    }

    #[test]
    fn parameters_are_json_when_they_parse_and_text_otherwise() {
        let parsed = parse(&[
            "--param",
            "n=3",
            "--param=name=Ada",
            "-p",
            "tags=[\"a\"]",
            "--params",
            "{\"flag\": true}",
        ])
        .unwrap();
        assert_eq!(
            Value::Object(parsed),
            json!({"n": 3, "name": "Ada", "tags": ["a"], "flag": true})
        );
    }

    #[test]
    fn malformed_parameters_name_the_problem() {
        assert!(parse(&["--param", "n"]).unwrap_err().contains("name=value"));
        assert!(parse(&["--param"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--params", "[1]"])
            .unwrap_err()
            .contains("JSON object"));
        assert!(parse(&["--verbose"])
            .unwrap_err()
            .contains("unknown option"));
    }
}
