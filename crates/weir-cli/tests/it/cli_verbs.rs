//! The API verbs as users run them: `weir work-pool`, `work-queue`, `variable` and `config` against a
//! `weir server start` on SQLite, checking what they print, their exit codes, and that every failure
//! is one `error:` line on stderr (`cli_runs` does the same for `deployment` and `flow-run`).

use super::*;
use serde_json::{json, Value};
use std::process::Output;
use weir_client::{Auth, Client};

/// What a `weir` run printed and how it ended.
pub(super) struct Run {
    pub(super) code: i32,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts success and returns stdout.
    pub(super) fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts a failure reported as one `error:` line holding `fragment`.
    pub(super) fn fails_with(&self, fragment: &str) {
        assert_ne!(self.code, 0, "should fail: {}", self.stdout);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {:?}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{}", lines[0]);
        assert!(lines[0].contains(fragment), "{} lacks {fragment}", lines[0]);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_str(self.ok()).expect("JSON output")
    }
}

/// `weir ARGS` with only `api_url` configured.
pub(super) fn command(api_url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command.args(args).env("WEIR_API_URL", api_url);
    for name in [
        "PREFECT_API_URL",
        "WEIR_API_KEY",
        "PREFECT_API_KEY",
        "WEIR_API_AUTH_STRING",
        "PREFECT_API_AUTH_STRING",
        "RUST_LOG",
    ] {
        command.env_remove(name);
    }
    command
}

/// `weir ARGS` against `server`.
pub(super) fn weir_args(server: &WeirServer, args: &[&str]) -> Run {
    command(&server.api_url, args).output().unwrap().into()
}

/// `weir` with the whitespace-separated arguments of `line`.
pub(super) fn weir(server: &WeirServer, line: impl AsRef<str>) -> Run {
    weir_args(
        server,
        &line.as_ref().split_whitespace().collect::<Vec<_>>(),
    )
}

pub(super) fn api(server: &WeirServer) -> Client {
    Client::new(&server.api_url, Auth::None)
}

/// The stdout line starting with `prefix`, trimmed of it.
pub(super) fn line_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {text}"))
        .trim()
}

#[tokio::test]
async fn work_pool_verbs() {
    let server = start_server(&[], &[]);
    let out = weir(&server, "work-pool create local");
    assert!(out.ok().starts_with("Created work pool \"local\"."));
    assert_eq!(line_after(&out.stdout, "type:"), "process");
    weir(&server, "work-pool create local")
        .fails_with("work pool \"local\" already exists: use --overwrite");
    weir(&server, "work-pool create x --type docker")
        .fails_with("unknown work pool type \"docker\": choose from kubernetes, process");

    // A template file written by get-default-base-job-template is accepted back.
    let file = server.home().join("k8s.json").display().to_string();
    let get_template = "work-pool get-default-base-job-template -t kubernetes -f";
    weir(&server, format!("{get_template} {file}")).ok();
    let create = "work-pool create k8s --type kubernetes --paused --concurrency-limit 3";
    let out = weir(&server, format!("{create} --base-job-template {file}"));
    assert_eq!(line_after(out.ok(), "status:"), "PAUSED");
    assert_eq!(line_after(&out.stdout, "concurrency limit:"), "3");
    let out = weir(
        &server,
        "work-pool create k8s --overwrite --concurrency-limit 4",
    );
    assert!(
        out.ok().starts_with("Updated work pool \"k8s\"."),
        "{}",
        out.stdout
    );
    assert_eq!(
        line_after(&out.stdout, "status:"),
        "NOT_READY",
        "--overwrite without --paused"
    );

    let listing = weir(&server, "work-pool ls");
    let lines: Vec<&str> = listing.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{}", listing.stdout);
    assert!(
        lines[0].starts_with("NAME   TYPE        STATUS     CONCURRENCY LIMIT  ID"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("k8s    kubernetes  NOT_READY  4                  "),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("local  process     NOT_READY  -                  "),
        "{}",
        lines[2]
    );
    let pools = weir(&server, "work-pool ls -o json").json();
    assert_eq!(pools.as_array().unwrap().len(), 2);

    weir(
        &server,
        "work-pool update local --description mine --concurrency-limit 2",
    )
    .ok();
    weir(&server, "work-pool pause local").ok();
    let pool = weir(&server, "work-pool inspect local").json();
    assert_eq!(pool["description"], "mine");
    assert_eq!(pool["concurrency_limit"], 2);
    assert_eq!(pool["is_paused"], true);
    assert_eq!(pool["status"], "PAUSED");
    assert_eq!(
        pool["base_job_template"]["job_configuration"]["command"],
        "{{ command }}"
    );
    weir(&server, "work-pool resume local").ok();
    weir(&server, "work-pool clear-concurrency-limit local").ok();
    let pool = weir(&server, "work-pool inspect local").json();
    assert_eq!(pool["is_paused"], false);
    assert_eq!(pool["concurrency_limit"], Value::Null);
    assert_eq!(pool["description"], "mine", "unnamed fields stay");
    let template = weir(
        &server,
        "work-pool get-default-base-job-template --type process",
    )
    .json();
    assert!(template["variables"]["properties"]["working_dir"].is_object());

    weir(&server, "work-pool update local").fails_with("nothing to update");
    std::fs::write(server.home().join("bad.json"), "[1]").unwrap();
    let bad = server.home().join("bad.json").display().to_string();
    weir(
        &server,
        format!("work-pool update local --base-job-template {bad}"),
    )
    .fails_with("must hold a JSON object");
    let out = weir(&server, "work-pool delete local");
    assert_eq!(out.ok().trim(), "Deleted work pool \"local\".");
    weir(&server, "work-pool delete local").fails_with("work pool \"local\" not found");
    weir(&server, "work-pool inspect nope").fails_with("work pool \"nope\" not found");
    weir(&server, "work-pool pause nope").fails_with("work pool \"nope\" not found");
}

#[tokio::test]
async fn work_queue_verbs() {
    let server = start_server(&[], &[]);
    weir(&server, "work-pool create pool").ok();
    let out = weir(
        &server,
        "work-queue create urgent --pool pool --priority 1 --limit 2",
    );
    assert!(out
        .ok()
        .starts_with("Created work queue \"urgent\" in work pool \"pool\"."));
    assert_eq!(line_after(&out.stdout, "concurrency limit:"), "2");
    let listing = weir(&server, "work-queue ls -p pool");
    let lines: Vec<&str> = listing.ok().lines().collect();
    assert_eq!(
        lines[0],
        "NAME     PRIORITY  CONCURRENCY LIMIT  STATUS     ID"
    );
    assert!(
        lines[1].starts_with("urgent   1         2                  NOT_READY  "),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("default  "), "{}", lines[2]);

    weir(&server, "work-queue pause urgent --pool pool").ok();
    weir(
        &server,
        "work-queue set-concurrency-limit urgent 9 --pool pool",
    )
    .ok();
    let queue = weir(&server, "work-queue inspect urgent --pool pool").json();
    assert_eq!(queue["is_paused"], true);
    assert_eq!(queue["concurrency_limit"], 9);
    assert_eq!(queue["priority"], 1, "unnamed fields stay");
    weir(&server, "work-queue resume urgent --pool pool").ok();
    let queue = weir(&server, "work-queue inspect urgent --pool pool").json();
    assert_eq!(queue["status"], "NOT_READY");

    weir(&server, "work-queue create urgent --pool pool")
        .fails_with("work queue \"urgent\" already exists in work pool \"pool\"");
    weir(&server, "work-queue create q --pool nowhere")
        .fails_with("work pool \"nowhere\" not found");
    weir(&server, "work-queue inspect nope --pool pool")
        .fails_with("work queue \"nope\" not found in work pool \"pool\"");
    weir(&server, "work-queue ls --pool nowhere").fails_with("work pool \"nowhere\" not found");
    weir(&server, "work-queue delete default --pool pool").fails_with("default queue");
    weir(&server, "work-queue ls").fails_with("--pool");
    weir(&server, "work-queue delete urgent --pool pool").ok();
    let queues = weir(&server, "work-queue ls --pool pool -o json").json();
    assert_eq!(queues.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn variable_verbs() {
    let server = start_server(&[], &[]);
    assert_eq!(
        weir(&server, "variable set greeting hello --tag a")
            .ok()
            .trim(),
        "Set variable \"greeting\"."
    );
    weir_args(
        &server,
        &["variable", "set", "limits", r#"{"rows": 10, "on": true}"#],
    )
    .ok();
    weir(&server, "variable set count 3").ok();
    assert_eq!(
        weir(&server, "variable get greeting").ok().trim(),
        "\"hello\""
    );
    assert_eq!(
        weir(&server, "variable get limits").json(),
        json!({"rows": 10, "on": true})
    );
    assert_eq!(weir(&server, "variable get count").ok().trim(), "3");
    let listing = weir(&server, "variable ls");
    let lines: Vec<&str> = listing.ok().lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines[0].starts_with("NAME      VALUE                  TAGS  UPDATED"),
        "{}",
        lines[0]
    );
    assert!(
        lines[2].starts_with("greeting  \"hello\"                a     "),
        "{}",
        lines[2]
    );
    assert_eq!(
        weir(&server, "variable ls --limit 1 -o json").json()[0]["name"],
        "count"
    );

    weir(&server, "variable set count 4")
        .fails_with("variable \"count\" already exists: use --overwrite to replace it");
    weir(&server, "variable set count 4 --overwrite --tag t").ok();
    let count = weir(&server, "variable inspect count").json();
    assert_eq!(count["value"], 4);
    assert_eq!(count["tags"], json!(["t"]));
    weir_args(&server, &["variable", "set", "Bad Name", "1"]).fails_with("name: ");
    weir_args(&server, &["variable", "set", "big", &"x".repeat(5001)]).fails_with("value: ");
    assert_eq!(
        weir(&server, "variable unset count").ok().trim(),
        "Unset variable \"count\"."
    );
    weir(&server, "variable unset count").fails_with("variable \"count\" not found");
    weir(&server, "variable get count").fails_with("variable \"count\" not found");
    weir(&server, "variable delete greeting").ok();
}

#[test]
fn config_view_names_sources_without_secrets() {
    let out: Run = command("http://example.test:4200/api", &["config", "view"])
        .env("PREFECT_API_KEY", "s3cret-key")
        .env("WEIR_HOME", "/tmp/weir-config-home")
        .env(
            "WEIR_DATABASE_URL",
            "postgresql://weir:hunter2@db:5432/weir",
        )
        .env_remove("WEIR_SERVER_API_AUTH_STRING")
        .env_remove("PREFECT_SERVER_API_AUTH_STRING")
        .output()
        .unwrap()
        .into();
    let text = out.ok();
    assert!(
        !text.contains("s3cret") && !text.contains("hunter2"),
        "{text}"
    );
    let row = |setting: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.starts_with(setting)).unwrap();
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        row("api url"),
        [
            "api url",
            "http://example.test:4200/api",
            "env WEIR_API_URL"
        ]
    );
    assert_eq!(
        row("api auth"),
        ["api auth", "bearer (API key)", "env PREFECT_API_KEY"]
    );
    assert_eq!(
        row("weir home"),
        ["weir home", "/tmp/weir-config-home", "env WEIR_HOME"]
    );
    assert_eq!(
        row("server database url")[1],
        "postgresql://weir:***@db:5432/weir"
    );
    assert_eq!(row("server auth")[1..], ["none", "default"]);

    let mut defaults = command("", &["config", "view"]);
    defaults
        .env_remove("WEIR_API_URL")
        .env_remove("WEIR_DATABASE_URL")
        .env("WEIR_HOME", "/tmp/h");
    let out: Run = defaults.output().unwrap().into();
    assert!(
        out.ok().contains("http://127.0.0.1:4200/api  default"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("sqlite:///tmp/h/weir.db"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_unreachable_server_and_bad_arguments_give_one_line() {
    let out: Run = command("http://127.0.0.1:1/api", &["work-pool", "ls"])
        .output()
        .unwrap()
        .into();
    out.fails_with("cannot reach the server at http://127.0.0.1:1/api");
    assert_eq!(out.code, 1);
    let out: Run = command("http://127.0.0.1:1/api", &["work-pool", "frobnicate"])
        .output()
        .unwrap()
        .into();
    out.fails_with("unrecognized subcommand 'frobnicate'");
    assert_eq!(out.code, 2);

    // A worker's base job template is checked before anything is contacted.
    let template = std::env::temp_dir().join(format!("weir-template-{}.json", std::process::id()));
    for (text, error) in [
        ("{not json", "is not valid JSON"),
        (
            r#"{"job_configuration": {"command": "{{ cmd }}"}, "variables": {"type": "object", "properties": {"x": {}}}}"#,
            "cmd",
        ),
    ] {
        std::fs::write(&template, text).unwrap();
        let out: Run = command(
            "http://127.0.0.1:1/api",
            &["worker", "start", "--pool", "p", "--base-job-template"],
        )
        .arg(&template)
        .output()
        .unwrap()
        .into();
        out.fails_with(error);
        assert_eq!(out.code, 1);
    }
    std::fs::remove_file(&template).unwrap();
}
