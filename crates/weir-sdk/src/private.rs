//! What the `#[flow]` and `#[task]` macros expand to call. Not a public API: names and shapes
//! change with the macros.

pub use crate::cache::CachePolicy;
pub use crate::flow::run_flow;
pub use crate::options::{CallError, FlowFn, Options, TaskFn};
pub use crate::probes::{
    Codec, NoClone, NoDeserialize, NoSchema, NoSerde, NoSerialize, Probe, ViaClone, ViaDeserialize,
    ViaSchema, ViaSerde, ViaSerialize,
};
pub use crate::task::{run_task, run_task_sync};
pub use futures::future::{BoxFuture, LocalBoxFuture};
pub use serde_json::{Map, Value};
pub use std::borrow::Cow;

use crate::config::ApiConfig;
use crate::context::FlowContext;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// The value of a flow or task that returns a plain value; a failure panics, as the failed
/// function did (or would have, for a timeout or an orchestration error).
#[track_caller]
pub fn unwrap_or_panic<T>(result: Result<T, crate::Error>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

/// Runs a blocking task call on tokio's blocking pool, inside the caller's flow run and server.
pub fn blocking<R, F>(call: F) -> BoxFuture<'static, R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let flow = FlowContext::current();
    let api = ApiConfig::scoped();
    let handle = tokio::task::spawn_blocking(move || {
        let call = move || match flow {
            Some(flow) => flow.sync_scope(call),
            None => call(),
        };
        match api {
            Some(api) => crate::config::sync_with_api(api, call),
            None => call(),
        }
    });
    Box::pin(async move {
        match handle.await {
            Ok(value) => value,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => panic!("a blocking task was cancelled with its runtime"),
        }
    })
}

/// A flow's output as JSON for `run`/`execute`: `Ok` with the value (or `null`), or the failure.
pub async fn outcome_json<T, E, Fut>(codec: Codec<T>, call: Fut) -> Result<Value, CallError>
where
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(Ok(value)) => Ok(codec
            .encode
            .and_then(|encode| encode(&value))
            .unwrap_or(Value::Null)),
        Ok(Err(error)) => Err(CallError::Failed(error.to_string())),
        Err(payload) => Err(CallError::Failed(crate::task::panic_message(&*payload))),
    }
}

/// The parameter `name` of a flow run's parameters (`null` when absent, which an `Option` reads
/// as `None`).
pub fn parameter(parameters: &Map<String, Value>, name: &str) -> Value {
    parameters.get(name).cloned().unwrap_or(Value::Null)
}

/// The JSON schema of a flow's parameters, in the shape Prefect stores on deployments.
pub struct ParameterSchema {
    generator: schemars::SchemaGenerator,
    properties: Map<String, Value>,
    required: Vec<Value>,
}

impl Default for ParameterSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl ParameterSchema {
    pub fn new() -> Self {
        ParameterSchema {
            generator: schemars::generate::SchemaSettings::draft07().into_generator(),
            properties: Map::new(),
            required: Vec::new(),
        }
    }

    /// The generator that parameter types add their definitions to.
    pub fn generator(&mut self) -> &mut schemars::SchemaGenerator {
        &mut self.generator
    }

    /// Adds the parameter `name` (the `position`-th) with its type's schema.
    pub fn add(&mut self, name: &str, position: usize, schema: Value, required: bool) {
        let mut schema = match schema {
            Value::Object(map) => map,
            // `true` (anything) and other non-object schemas become an empty object.
            _ => Map::new(),
        };
        schema.insert("title".into(), Value::from(name));
        schema.insert("position".into(), Value::from(position));
        self.properties
            .insert(name.to_owned(), Value::Object(schema));
        if required {
            self.required.push(Value::from(name));
        }
    }

    pub fn finish(mut self) -> Value {
        let definitions: Map<String, Value> =
            self.generator.take_definitions(true).into_iter().collect();
        let mut schema = Map::new();
        schema.insert("title".into(), Value::from("Parameters"));
        schema.insert("type".into(), Value::from("object"));
        schema.insert("properties".into(), Value::Object(self.properties));
        schema.insert("required".into(), Value::Array(self.required));
        schema.insert("definitions".into(), Value::Object(definitions));
        Value::Object(schema)
    }
}
