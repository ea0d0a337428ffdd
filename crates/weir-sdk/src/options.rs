//! A flow's or task's options: what its attribute says, and the customised copies
//! `with_options()` makes.
//!
//! The attribute's options are a `const` [`Options`] per function, built without allocating
//! (`Cow::Borrowed` everywhere). [`TaskWith`] and [`FlowWith`] hold a copy whose fields the
//! builder methods replace, as Prefect's `Task.with_options` / `Flow.with_options` do.

use crate::cache::{CacheKeyFn, CachePolicy};
use crate::handles::{TaskFuture, TaskFutures};
use futures::future::{BoxFuture, LocalBoxFuture};
use std::borrow::Cow;
use std::marker::PhantomData;

/// The options of one flow or task.
#[derive(Clone, Debug)]
pub struct Options {
    /// The flow or task name (Prefect's default: the function name, `_` → `-` for flows).
    pub name: Cow<'static, str>,
    /// `module_path!()::function`: tells tasks with the same name apart (the task key).
    pub key: &'static str,
    pub description: Option<Cow<'static, str>>,
    pub version: Option<Cow<'static, str>>,
    pub tags: Cow<'static, [Cow<'static, str>]>,
    pub retries: u32,
    /// The delay before each retry; the last entry repeats. Empty: retry at once.
    pub retry_delay_seconds: Cow<'static, [f64]>,
    /// Spread of the retry delays: each delay is drawn around its value, at most
    /// `delay * (1 + factor)`.
    pub retry_jitter_factor: Option<f64>,
    pub timeout_seconds: Option<f64>,
    /// What the cache key is made of; `None` when the attribute did not say.
    pub cache_policy: Option<CachePolicy>,
    /// Computes the cache key instead of the policy; returning `None` skips the cache.
    pub cache_key_fn: Option<CacheKeyFn>,
    /// How long a cached result stays valid, in seconds; forever when `None`.
    pub cache_expiration: Option<f64>,
    /// Whether to persist the result; `None`: only when caching needs it (or by default, per
    /// `WEIR_RESULTS_PERSIST_BY_DEFAULT`).
    pub persist_result: Option<bool>,
    /// Run the body even on a cache hit, and overwrite the cached result.
    pub refresh_cache: bool,
    /// Ship lines written with [`crate::log_print!`] to the run's logs.
    pub log_prints: bool,
    /// A hash of the function's source tokens (the `task_source` part of a cache key).
    pub source_hash: &'static str,
}

impl Options {
    /// Every option at its default (the macros fill in the rest with `..Options::DEFAULT`).
    pub const DEFAULT: Options = Options {
        name: Cow::Borrowed(""),
        key: "",
        description: None,
        version: None,
        tags: Cow::Borrowed(&[]),
        retries: 0,
        retry_delay_seconds: Cow::Borrowed(&[]),
        retry_jitter_factor: None,
        timeout_seconds: None,
        cache_policy: None,
        cache_key_fn: None,
        cache_expiration: None,
        persist_result: None,
        refresh_cache: false,
        log_prints: false,
        source_hash: "",
    };
}

/// What `#[task]` generates for a function with owned arguments: lets [`TaskWith`] call it.
///
/// `Args` is the function's arguments as one value: `()` for none, the argument itself for one,
/// a tuple for several. Not meant to be implemented by hand.
pub trait TaskFn: Sized + 'static {
    type Args: Send + 'static;
    type Output: Send + 'static;
    /// The options of the attribute.
    fn options() -> &'static Options;
    /// One call under `options`, as a future that can move between threads.
    fn run(options: Cow<'static, Options>, args: Self::Args) -> BoxFuture<'static, Self::Output>;
}

/// What `#[flow]` generates for a function with owned arguments: lets [`FlowWith`] call it and
/// [`crate::main!`] run it from the command line.
pub trait FlowFn: Sized + 'static {
    type Args: 'static;
    type Output: 'static;
    /// The options of the attribute.
    fn options() -> &'static Options;
    /// One call under `options`.
    fn run(
        options: Cow<'static, Options>,
        args: Self::Args,
    ) -> LocalBoxFuture<'static, Self::Output>;
    /// The JSON schema of the parameters, as Prefect stores it on a deployment.
    fn parameter_schema() -> serde_json::Value;
    /// One call with the parameters read from JSON: the result as JSON (`null` when it has no
    /// JSON form), or why the call failed.
    fn run_json(
        options: Cow<'static, Options>,
        parameters: serde_json::Map<String, serde_json::Value>,
    ) -> LocalBoxFuture<'static, Result<serde_json::Value, CallError>>;
}

/// Why a flow call from JSON parameters did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// A parameter could not be read; the flow did not start.
    Parameter(String),
    /// The flow ran and failed.
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Parameter(message) | CallError::Failed(message) => f.write_str(message),
        }
    }
}

/// The option setters shared by [`TaskWith`] and [`FlowWith`].
macro_rules! option_setters {
    () => {
        /// Replaces the name.
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.options.to_mut().name = Cow::Owned(name.into());
            self
        }

        /// Replaces the description.
        pub fn description(mut self, description: impl Into<String>) -> Self {
            self.options.to_mut().description = Some(Cow::Owned(description.into()));
            self
        }

        /// Replaces the version.
        pub fn version(mut self, version: impl Into<String>) -> Self {
            self.options.to_mut().version = Some(Cow::Owned(version.into()));
            self
        }

        /// Replaces the tags.
        pub fn tags<I, S>(mut self, tags: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            let tags: Vec<Cow<'static, str>> =
                tags.into_iter().map(|t| Cow::Owned(t.into())).collect();
            self.options.to_mut().tags = Cow::Owned(tags);
            self
        }

        /// Replaces the number of retries.
        pub fn retries(mut self, retries: u32) -> Self {
            self.options.to_mut().retries = retries;
            self
        }

        /// Replaces the retry delays (seconds; the last one repeats).
        pub fn retry_delay_seconds(mut self, delays: impl Into<Vec<f64>>) -> Self {
            let delays: Vec<f64> = delays.into().into_iter().map(|d| d.max(0.0)).collect();
            self.options.to_mut().retry_delay_seconds = Cow::Owned(delays);
            self
        }

        /// Replaces the retry jitter factor.
        pub fn retry_jitter_factor(mut self, factor: f64) -> Self {
            self.options.to_mut().retry_jitter_factor = Some(factor.max(0.0));
            self
        }

        /// Replaces the timeout, in seconds.
        pub fn timeout_seconds(mut self, seconds: f64) -> Self {
            self.options.to_mut().timeout_seconds = Some(seconds);
            self
        }

        /// Replaces the cache policy.
        pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
            self.options.to_mut().cache_policy = Some(policy);
            self
        }

        /// Replaces the cache key function.
        pub fn cache_key_fn(mut self, key: CacheKeyFn) -> Self {
            self.options.to_mut().cache_key_fn = Some(key);
            self
        }

        /// Replaces how long cached results stay valid, in seconds.
        pub fn cache_expiration(mut self, seconds: f64) -> Self {
            self.options.to_mut().cache_expiration = Some(seconds);
            self
        }

        /// Replaces whether the result is persisted.
        pub fn persist_result(mut self, persist: bool) -> Self {
            self.options.to_mut().persist_result = Some(persist);
            self
        }

        /// Runs the body even when a cached result exists, and replaces it.
        pub fn refresh_cache(mut self, refresh: bool) -> Self {
            self.options.to_mut().refresh_cache = refresh;
            self
        }

        /// Replaces whether [`crate::log_print!`] lines go to the run's logs.
        pub fn log_prints(mut self, log_prints: bool) -> Self {
            self.options.to_mut().log_prints = log_prints;
            self
        }

        /// The options in effect.
        pub fn options(&self) -> &Options {
            &self.options
        }
    };
}

/// A task with customised options, from `my_task::with_options()`.
///
/// ```no_run
/// # use weir_sdk::task;
/// #[task]
/// async fn fetch(page: u32) -> anyhow::Result<String> { Ok(page.to_string()) }
///
/// # async fn f() -> anyhow::Result<()> {
/// let patient = fetch::with_options().retries(3).retry_delay_seconds([1.0]).name("fetch-page");
/// let first = patient.clone().call(1).await?;
/// let rest = patient.map(2..10).await;
/// # Ok(()) }
/// ```
pub struct TaskWith<F: TaskFn> {
    options: Cow<'static, Options>,
    task: PhantomData<fn() -> F>,
}

impl<F: TaskFn> Clone for TaskWith<F> {
    fn clone(&self) -> Self {
        Self {
            options: self.options.clone(),
            task: PhantomData,
        }
    }
}

impl<F: TaskFn> Default for TaskWith<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: TaskFn> TaskWith<F> {
    /// The task with the options of its attribute.
    pub fn new() -> Self {
        Self {
            options: Cow::Borrowed(F::options()),
            task: PhantomData,
        }
    }

    option_setters!();

    /// Calls the task with these options (a blocking task runs on tokio's blocking pool).
    pub fn call(self, args: F::Args) -> BoxFuture<'static, F::Output> {
        F::run(self.options, args)
    }

    /// Starts the task concurrently on the tokio runtime; await the handle for its value.
    pub fn submit(self, args: F::Args) -> TaskFuture<F::Output> {
        crate::handles::spawn(F::run(self.options, args))
    }

    /// Starts one run per item, concurrently; await the handles for their values, in order.
    pub fn map<I>(self, items: I) -> TaskFutures<F::Output>
    where
        I: IntoIterator<Item = F::Args>,
    {
        items
            .into_iter()
            .map(|args| self.clone().submit(args))
            .collect()
    }
}

/// A flow with customised options, from `my_flow::with_options()`.
pub struct FlowWith<F: FlowFn> {
    options: Cow<'static, Options>,
    flow: PhantomData<fn() -> F>,
}

impl<F: FlowFn> Clone for FlowWith<F> {
    fn clone(&self) -> Self {
        Self {
            options: self.options.clone(),
            flow: PhantomData,
        }
    }
}

impl<F: FlowFn> Default for FlowWith<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: FlowFn> FlowWith<F> {
    /// The flow with the options of its attribute.
    pub fn new() -> Self {
        Self {
            options: Cow::Borrowed(F::options()),
            flow: PhantomData,
        }
    }

    option_setters!();

    /// Calls the flow with these options.
    pub fn call(self, args: F::Args) -> LocalBoxFuture<'static, F::Output> {
        F::run(self.options, args)
    }
}
