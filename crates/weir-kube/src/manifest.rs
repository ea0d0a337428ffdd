//! From a rendered job configuration to the Job manifest a flow run is submitted as.
//!
//! The worker renders the work pool's `job_configuration` with the run's variables first (see
//! `weir_core::job_template`); what comes out holds a `job_manifest` plus settings beside it
//! (`namespace`, `env`, `cluster_config`, timeouts, `stream_output`). [`prepare`] then does what
//! prefect-kubernetes' `prepare_for_flow_run` does, so pools created by Prefect's CLI behave the same:
//!
//! - checks the manifest is a single-pod `batch/v1` Job (a clear error names the offending path),
//!   filling in `parallelism: 1`, `completions: 1` and `restartPolicy: Never` when absent;
//! - labels Job and pod with the `prefect.io/*` keys (slugified to Kubernetes' label rules) so the
//!   observer, adoption after a restart and `kubectl get -l` can find them;
//! - builds the flow container's env: API URL and credentials (a `secretKeyRef` when the worker is
//!   configured with a Secret, never the key in plain text then), `PREFECT__FLOW_RUN_ID`, the
//!   attribution variables, and the configuration's `env` on top;
//! - fills `generateName`, the image and the command when the template leaves them out.
//!
//! Pure: no I/O, so every rule has a table test and golden manifests.

use serde_json::{json, Map, Value};
use std::time::Duration;
use uuid::Uuid;

/// The container that runs the flow, as in every Prefect Kubernetes template.
pub const FLOW_CONTAINER: &str = "prefect-job";
/// The label every Job and pod of a flow run carries: the observer selects on it.
pub const FLOW_RUN_ID_LABEL: &str = "prefect.io/flow-run-id";
/// The label naming the work pool; a restarted worker finds its Jobs by it.
pub const WORK_POOL_LABEL: &str = "prefect.io/work-pool-name";
/// The image used for Python entrypoints when the template names none.
pub const DEFAULT_PYTHON_IMAGE: &str = "prefecthq/prefect:3.9.1-python3.11";

/// Who and what a Job is for: the facts its labels and env are made of.
#[derive(Clone, Debug, Default)]
pub struct RunContext {
    pub flow_run_id: Uuid,
    pub flow_run_name: String,
    pub flow_id: Uuid,
    pub flow_name: Option<String>,
    pub deployment: Option<DeploymentInfo>,
    pub work_pool_name: String,
    pub work_pool_id: Option<Uuid>,
    pub worker_name: String,
    pub worker_id: Option<Uuid>,
    /// The deployment's entrypoint: decides the default command and image.
    pub entrypoint: Option<String>,
    /// The worker's own API settings passed on to the flow (URL, credentials).
    pub api_env: Vec<EnvVar>,
    /// Weir's version, for the version labels.
    pub version: String,
}

/// The deployment a run belongs to.
#[derive(Clone, Debug, Default)]
pub struct DeploymentInfo {
    pub id: Uuid,
    pub name: String,
    /// When the deployment was last updated (RFC 3339), as Prefect labels it.
    pub updated: Option<String>,
}

/// One container env entry: a plain value or a reference to a key of a Secret.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvVar {
    Value {
        name: String,
        value: String,
    },
    SecretKey {
        name: String,
        secret: String,
        key: String,
    },
}

impl EnvVar {
    pub fn value(name: impl Into<String>, value: impl Into<String>) -> EnvVar {
        EnvVar::Value {
            name: name.into(),
            value: value.into(),
        }
    }

    fn name(&self) -> &str {
        match self {
            EnvVar::Value { name, .. } | EnvVar::SecretKey { name, .. } => name,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            EnvVar::Value { name, value } => json!({"name": name, "value": value}),
            EnvVar::SecretKey { name, secret, key } => json!({
                "name": name,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key}},
            }),
        }
    }
}

/// The settings beside the manifest that steer the worker rather than Kubernetes.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSettings {
    /// Where the Job is created.
    pub namespace: String,
    /// A `KubernetesClusterConfig` block's data (`config`, `context_name`), if the pool names one.
    pub cluster_config: Option<Value>,
    /// Whether the container's output becomes flow-run log lines.
    pub stream_output: bool,
    /// How long the pod may wait to start when it cannot (image pull errors, unschedulable
    /// without a scale-up under way): `pod_watch_timeout_seconds`.
    pub start_timeout: Option<Duration>,
    /// How long the flow may run once its container started: `job_watch_timeout_seconds`.
    pub run_timeout: Option<Duration>,
}

/// A Job ready to submit.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedJob {
    pub manifest: Value,
    pub settings: JobSettings,
}

/// Why a job configuration cannot become a Job. Messages start with the offending path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: missing; the job manifest needs it")]
    Missing { path: String },
    #[error("{path}: must be {expected}, found {found}")]
    Incompatible {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// Turns a rendered job configuration into the Job to submit for the run of `context`.
pub fn prepare(
    configuration: &Map<String, Value>,
    context: &RunContext,
) -> Result<PreparedJob, ManifestError> {
    let mut manifest = match configuration.get("job_manifest") {
        Some(Value::Object(manifest)) => manifest.clone(),
        Some(other) => return Err(incompatible("job_manifest", "an object", other)),
        None => return Err(missing("job_manifest")),
    };
    check_kind(&manifest)?;
    let settings = settings(configuration, &manifest)?;
    let backoff_limit = manifest
        .get("spec")
        .and_then(|spec| spec.get("backoffLimit"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let pod_spec = pod_spec(&mut manifest)?;
    fill_single_pod_rules(pod_spec)?;
    let container = flow_container(pod_spec)?;
    set_env(container, configuration, context, backoff_limit)?;
    set_image_and_command(container, configuration, context)?;

    let metadata = object_at(&mut manifest, "metadata")?;
    metadata.insert(
        "namespace".into(),
        Value::String(settings.namespace.clone()),
    );
    let labels = merged_labels(metadata.get("labels"), context)?;
    metadata.insert("labels".into(), Value::Object(labels.clone()));
    let annotations = slugified_annotations(metadata.get("annotations"))?;
    metadata.insert("annotations".into(), Value::Object(annotations.clone()));
    set_generate_name(metadata, configuration, context);

    // The pod carries the same labels (the observer selects pods by them) and annotations.
    let template = object_at(object_at(&mut manifest, "spec")?, "template")?;
    let pod_metadata = object_at(template, "metadata")?;
    let mut pod_labels = match pod_metadata.get("labels") {
        Some(Value::Object(existing)) => existing.clone(),
        _ => Map::new(),
    };
    pod_labels.extend(labels);
    pod_metadata.insert("labels".into(), Value::Object(pod_labels));
    if !annotations.is_empty() {
        let mut pod_annotations = match pod_metadata.get("annotations") {
            Some(Value::Object(existing)) => existing.clone(),
            _ => Map::new(),
        };
        for (key, value) in annotations {
            pod_annotations.entry(key).or_insert(value);
        }
        pod_metadata.insert("annotations".into(), Value::Object(pod_annotations));
    }
    Ok(PreparedJob {
        manifest: Value::Object(manifest),
        settings,
    })
}

fn missing(path: &str) -> ManifestError {
    ManifestError::Missing {
        path: path.to_owned(),
    }
}

fn incompatible(path: &str, expected: &str, found: &Value) -> ManifestError {
    ManifestError::Incompatible {
        path: path.to_owned(),
        expected: expected.to_owned(),
        found: found.to_string(),
    }
}

fn check_kind(manifest: &Map<String, Value>) -> Result<(), ManifestError> {
    for (field, expected) in [("apiVersion", "batch/v1"), ("kind", "Job")] {
        match manifest.get(field) {
            Some(Value::String(found)) if found == expected => {}
            Some(other) => {
                return Err(incompatible(
                    &format!("job_manifest.{field}"),
                    &format!("{expected:?}"),
                    other,
                ))
            }
            None => return Err(missing(&format!("job_manifest.{field}"))),
        }
    }
    Ok(())
}

/// The object at `key` of `map`, created when absent.
fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Map<String, Value>, ManifestError> {
    let slot = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(object) => Ok(object),
        other => Err(incompatible(key, "an object", other)),
    }
}

fn pod_spec(manifest: &mut Map<String, Value>) -> Result<&mut Map<String, Value>, ManifestError> {
    let spec = manifest
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| missing("job_manifest.spec"))?;
    let template = spec
        .get_mut("template")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| missing("job_manifest.spec.template"))?;
    template
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| missing("job_manifest.spec.template.spec"))
}

/// One run is one pod that is never restarted in place: Prefect's rule, kept so both workers
/// accept the same templates. Absent values are filled in; different ones are refused.
fn fill_single_pod_rules(pod_spec: &mut Map<String, Value>) -> Result<(), ManifestError> {
    for (field, expected) in [
        ("parallelism", json!(1)),
        ("completions", json!(1)),
        ("restartPolicy", json!("Never")),
    ] {
        match pod_spec.get(field) {
            None | Some(Value::Null) => {
                pod_spec.insert(field.to_owned(), expected);
            }
            Some(found) if *found == expected => {}
            Some(found) => {
                return Err(incompatible(
                    &format!("job_manifest.spec.template.spec.{field}"),
                    &expected.to_string(),
                    found,
                ))
            }
        }
    }
    Ok(())
}

/// The container named `prefect-job`, else the first one.
fn flow_container(
    pod_spec: &mut Map<String, Value>,
) -> Result<&mut Map<String, Value>, ManifestError> {
    const PATH: &str = "job_manifest.spec.template.spec.containers";
    match pod_spec.get("containers") {
        Some(Value::Array(containers)) if !containers.is_empty() => {}
        Some(Value::Array(_)) | None => return Err(missing(&format!("{PATH}[0]"))),
        Some(other) => return Err(incompatible(PATH, "a list of containers", other)),
    }
    let Some(Value::Array(containers)) = pod_spec.get_mut("containers") else {
        return Err(missing(PATH));
    };
    let index = containers
        .iter()
        .position(|c| c.get("name").and_then(Value::as_str) == Some(FLOW_CONTAINER))
        .unwrap_or(0);
    let found = containers[index].clone();
    containers[index]
        .as_object_mut()
        .ok_or_else(|| incompatible(&format!("{PATH}[{index}]"), "an object", &found))
}

fn settings(
    configuration: &Map<String, Value>,
    manifest: &Map<String, Value>,
) -> Result<JobSettings, ManifestError> {
    let namespace = manifest
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or_else(|| configuration.get("namespace").and_then(Value::as_str))
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_owned();
    let cluster_config = match configuration.get("cluster_config") {
        None | Some(Value::Null) => None,
        Some(Value::Object(config)) => Some(Value::Object(config.clone())),
        Some(other) => {
            return Err(incompatible(
                "cluster_config",
                "a KubernetesClusterConfig block's data",
                other,
            ))
        }
    };
    let stream_output = match configuration.get("stream_output") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(on)) => *on,
        Some(other) => return Err(incompatible("stream_output", "true or false", other)),
    };
    Ok(JobSettings {
        namespace,
        cluster_config,
        stream_output,
        start_timeout: seconds(configuration, "pod_watch_timeout_seconds")?,
        run_timeout: seconds(configuration, "job_watch_timeout_seconds")?,
    })
}

fn seconds(
    configuration: &Map<String, Value>,
    key: &str,
) -> Result<Option<Duration>, ManifestError> {
    match configuration.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_f64() {
            Some(s) if s > 0.0 && s.is_finite() => Ok(Some(Duration::from_secs_f64(s))),
            _ => Err(incompatible(key, "a positive number of seconds", value)),
        },
    }
}

/// The flow container's env: the worker's API settings, the run id and attribution, then the
/// configuration's `env` (which wins), then entries the template wrote as a list (kept as written).
fn set_env(
    container: &mut Map<String, Value>,
    configuration: &Map<String, Value>,
    context: &RunContext,
    backoff_limit: i64,
) -> Result<(), ManifestError> {
    let mut entries: Vec<EnvVar> = context.api_env.clone();
    let mut attribution = vec![
        EnvVar::value("PREFECT__FLOW_RUN_ID", context.flow_run_id.to_string()),
        EnvVar::value("PREFECT__WORKER_NAME", &context.worker_name),
        EnvVar::value("PREFECT__FLOW_ID", context.flow_id.to_string()),
    ];
    if let Some(id) = context.worker_id {
        attribution.push(EnvVar::value("PREFECT__WORKER_ID", id.to_string()));
    }
    if let Some(name) = &context.flow_name {
        attribution.push(EnvVar::value("PREFECT__FLOW_NAME", name));
    }
    if let Some(deployment) = &context.deployment {
        attribution.push(EnvVar::value(
            "PREFECT__DEPLOYMENT_ID",
            deployment.id.to_string(),
        ));
        attribution.push(EnvVar::value("PREFECT__DEPLOYMENT_NAME", &deployment.name));
    }
    entries.extend(attribution);
    let user = user_env(configuration.get("env"), "env")?;
    let user_set_sigterm = user
        .iter()
        .any(|e| e.name() == "PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR");
    for entry in user {
        entries.retain(|e| e.name() != entry.name());
        entries.push(entry);
    }
    // Eviction: with no Kubernetes retries the engine reschedules its run on SIGTERM; with
    // retries it lets Kubernetes start the pod again.
    if backoff_limit > 0 {
        entries.retain(|e| e.name() != "PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR");
        entries.push(EnvVar::value(
            "PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR",
            "relinquish",
        ));
    } else if !user_set_sigterm {
        entries.push(EnvVar::value(
            "PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR",
            "reschedule",
        ));
    }
    let mut rendered: Vec<Value> = entries.iter().map(EnvVar::to_json).collect();
    // A template that hard-codes an env list keeps its entries after ours, unless ours named them.
    if let Some(Value::Array(written)) = container.get("env") {
        for entry in written {
            let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
            if !entries.iter().any(|e| e.name() == name) {
                rendered.push(entry.clone());
            }
        }
    }
    container.insert("env".into(), Value::Array(rendered));
    Ok(())
}

/// The configuration's `env`: an object of names to values (null drops a name), or a Kubernetes
/// list whose `valueFrom` entries are kept as written.
fn user_env(env: Option<&Value>, path: &str) -> Result<Vec<EnvVar>, ManifestError> {
    let mut out = Vec::new();
    match env {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = match value {
                    Value::Null => continue,
                    Value::String(s) => s.clone(),
                    Value::Bool(_) | Value::Number(_) => value.to_string(),
                    other => {
                        return Err(incompatible(&format!("{path}.{name}"), "a string", other))
                    }
                };
                out.push(EnvVar::value(name, value));
            }
        }
        Some(Value::Array(list)) => {
            for (i, entry) in list.iter().enumerate() {
                let name = entry
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing(&format!("{path}[{i}].name")))?;
                if let Some(reference) = entry.get("valueFrom").and_then(|v| v.get("secretKeyRef"))
                {
                    let field = |key: &str| {
                        reference
                            .get(key)
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| {
                                missing(&format!("{path}[{i}].valueFrom.secretKeyRef.{key}"))
                            })
                    };
                    out.push(EnvVar::SecretKey {
                        name: name.to_owned(),
                        secret: field("name")?,
                        key: field("key")?,
                    });
                } else if entry.get("valueFrom").is_some() {
                    return Err(ManifestError::Invalid {
                        path: format!("{path}[{i}].valueFrom"),
                        message: "only secretKeyRef is supported in the env variable; \
                                  put other sources in the job manifest's env list"
                            .into(),
                    });
                } else {
                    let value = entry.get("value").and_then(Value::as_str).unwrap_or("");
                    out.push(EnvVar::value(name, value));
                }
            }
        }
        Some(other) => return Err(incompatible(path, "an object of names to values", other)),
    }
    Ok(out)
}

/// The image the template gives, else one that can run the entrypoint; the command the template
/// gives (a string is split like a shell would), else the entrypoint's.
fn set_image_and_command(
    container: &mut Map<String, Value>,
    configuration: &Map<String, Value>,
    context: &RunContext,
) -> Result<(), ManifestError> {
    let python = context
        .entrypoint
        .as_deref()
        .is_none_or(weir_worker::process::is_python_entrypoint);
    match container.get("image") {
        Some(Value::String(image)) if !image.is_empty() => {}
        Some(Value::Null) | None if python => {
            container.insert("image".into(), json!(DEFAULT_PYTHON_IMAGE));
        }
        Some(Value::Null) | None => {
            return Err(ManifestError::Invalid {
                path: "image".into(),
                message: "no image to run this Weir flow binary in: set the `image` job \
                          variable (deploy with --image) to an image that holds it"
                    .into(),
            })
        }
        Some(other) => return Err(incompatible("image", "an image reference", other)),
    }
    let args = match container.get("args") {
        Some(Value::String(command)) => split(command)?,
        Some(Value::Array(args)) => Value::Array(args.clone()),
        Some(Value::Null) | None => match configuration.get("command") {
            Some(Value::String(command)) if !command.trim().is_empty() => split(command)?,
            _ => default_command(context),
        },
        Some(other) => return Err(incompatible("command", "a command line", other)),
    };
    container.insert("args".into(), args);
    Ok(())
}

fn split(command: &str) -> Result<Value, ManifestError> {
    weir_worker::command::split(command)
        .map(|words| json!(words))
        .map_err(|error| ManifestError::Invalid {
            path: "command".into(),
            message: error.to_string(),
        })
}

/// A Weir flow binary runs its `execute` subcommand; anything else Prefect's engine.
fn default_command(context: &RunContext) -> Value {
    match context.entrypoint.as_deref() {
        Some(entrypoint) if !weir_worker::process::is_python_entrypoint(entrypoint) => {
            json!([entrypoint, "execute"])
        }
        _ => json!(["prefect", "flow-run", "execute"]),
    }
}

fn merged_labels(
    written: Option<&Value>,
    context: &RunContext,
) -> Result<Map<String, Value>, ManifestError> {
    let mut labels = Map::new();
    let mut put = |key: &str, value: &str| {
        labels.insert(slugify_label_key(key), json!(slugify_label_value(value)));
    };
    put(FLOW_RUN_ID_LABEL, &context.flow_run_id.to_string());
    put("prefect.io/flow-run-name", &context.flow_run_name);
    put("prefect.io/version", &context.version);
    put("app.kubernetes.io/managed-by", "weir");
    put("app.kubernetes.io/part-of", "weir");
    put("app.kubernetes.io/version", &context.version);
    put(WORK_POOL_LABEL, &context.work_pool_name);
    if let Some(id) = context.work_pool_id {
        put("prefect.io/work-pool-id", &id.to_string());
    }
    put("prefect.io/worker-name", &context.worker_name);
    put("prefect.io/flow-id", &context.flow_id.to_string());
    if let Some(name) = &context.flow_name {
        put("prefect.io/flow-name", name);
        put("app.kubernetes.io/name", name);
    }
    if let Some(deployment) = &context.deployment {
        put("prefect.io/deployment-id", &deployment.id.to_string());
        put("prefect.io/deployment-name", &deployment.name);
        put("app.kubernetes.io/name", &deployment.name);
        if let Some(updated) = &deployment.updated {
            put("prefect.io/deployment-updated", updated);
        }
    }
    match written {
        None | Some(Value::Null) => {}
        Some(Value::Object(user)) => {
            for (key, value) in user {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                labels.insert(slugify_label_key(key), json!(slugify_label_value(&value)));
            }
        }
        Some(other) => return Err(incompatible("labels", "an object", other)),
    }
    Ok(labels)
}

fn slugified_annotations(written: Option<&Value>) -> Result<Map<String, Value>, ManifestError> {
    match written {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(annotations)) => Ok(annotations
            .iter()
            .map(|(key, value)| (slugify_label_key(key), value.clone()))
            .collect()),
        Some(other) => Err(incompatible("annotations", "an object", other)),
    }
}

/// `generateName` from the `name` variable, else the flow run's name, slugified so the five-letter
/// suffix Kubernetes adds keeps the name within 63 characters.
fn set_generate_name(
    metadata: &mut Map<String, Value>,
    configuration: &Map<String, Value>,
    context: &RunContext,
) {
    if metadata
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
    {
        return;
    }
    let written = metadata
        .get("generateName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let usable = !matches!(written, "" | "-" | "None-");
    let base = if usable {
        written.trim_end_matches('-').to_owned()
    } else {
        configuration
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(&context.flow_run_name)
            .to_owned()
    };
    let mut slug = slugify(&base.to_lowercase(), 45, |c| {
        c.is_ascii_alphanumeric() || c == '-'
    });
    if slug.is_empty() {
        slug = "weir-job".into();
    }
    metadata.insert("generateName".into(), json!(format!("{slug}-")));
}

/// Replaces each run of characters `keep` refuses by one `-`, trims `-`, `_` and `.` from both
/// ends (Kubernetes names and label values begin and end alphanumeric) and cuts to `max`.
fn slugify(text: &str, max: usize, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut dash = false;
    for c in text.chars() {
        if keep(c) {
            out.push(c);
            dash = false;
        } else if !dash {
            out.push('-');
            dash = true;
        }
    }
    let trim = |s: &str| {
        s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_owned()
    };
    let mut slug = trim(&out);
    if slug.len() > max {
        slug.truncate(max);
        slug = trim(&slug);
    }
    slug
}

/// A label value: at most 63 characters of `[A-Za-z0-9-_.]`, alphanumeric at both ends.
pub fn slugify_label_value(value: &str) -> String {
    slugify(value, 63, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
    })
}

/// A label or annotation key: an optional DNS-subdomain prefix (≤ 253) and a name (≤ 63).
pub fn slugify_label_key(key: &str) -> String {
    let name_rule = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    match key.rsplit_once('/') {
        Some((prefix, name)) => {
            let prefix = slugify(&prefix.to_lowercase(), 253, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '.')
            });
            let name = slugify(name, 63, name_rule);
            if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            }
        }
        None => slugify(key, 63, name_rule),
    }
}

#[cfg(test)]
mod tests;
