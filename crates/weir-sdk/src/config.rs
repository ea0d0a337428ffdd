//! Where the SDK reports to: the API URL and auth, from the environment or set for one scope.
//!
//! `WEIR_API_URL` wins over `PREFECT_API_URL`, and `WEIR_API_AUTH_STRING` over
//! `PREFECT_API_AUTH_STRING`, so a Prefect setup works unchanged. [`with_api`] overrides both for
//! one future (tests and programs that talk to several servers use it).

use std::future::Future;
use weir_client::Auth;
use weir_core::env;

/// The server a flow reports to.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The API base URL, e.g. `http://127.0.0.1:4200/api`.
    pub url: String,
    /// How to authenticate (HTTP and the events websocket).
    pub auth: Auth,
}

impl ApiConfig {
    /// A server at `url` without auth.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: Auth::None,
        }
    }

    /// The same server with an HTTP Basic auth string (`user:password`).
    pub fn with_auth_string(mut self, auth_string: impl Into<String>) -> Self {
        self.auth = Auth::Basic(auth_string.into());
        self
    }

    /// The server named by the environment, if any.
    pub fn from_env() -> Option<Self> {
        let read = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        let url = read(&[env::WEIR_API_URL, env::PREFECT_API_URL])?;
        let auth = read(&[env::WEIR_API_AUTH_STRING, env::PREFECT_API_AUTH_STRING])
            .map_or(Auth::None, Auth::Basic);
        Some(Self { url, auth })
    }

    /// The config in effect: the innermost [`with_api`] scope, else the environment.
    pub(crate) fn current() -> Option<Self> {
        SCOPED.try_with(Clone::clone).ok().or_else(Self::from_env)
    }

    /// The token of the websocket auth frame: the raw auth string, as Prefect sends it.
    pub(crate) fn websocket_token(&self) -> Option<String> {
        match &self.auth {
            Auth::None => None,
            Auth::Basic(secret) | Auth::Bearer(secret) => Some(secret.clone()),
        }
    }
}

tokio::task_local! {
    static SCOPED: ApiConfig;
}

/// Runs `future` with flows reporting to `config` instead of the server named by the environment.
pub async fn with_api<F: Future>(config: ApiConfig, future: F) -> F::Output {
    SCOPED.scope(config, future).await
}
