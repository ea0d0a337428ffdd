//! Where the SDK reports to: the API URL and auth, from the environment or set for one scope.
//!
//! `WEIR_API_URL` wins over `PREFECT_API_URL`, `WEIR_API_KEY` over `PREFECT_API_KEY` (sent as
//! `Authorization: Bearer`), and `WEIR_API_AUTH_STRING` over `PREFECT_API_AUTH_STRING` (HTTP
//! Basic; used when no key is set), so a Prefect setup works unchanged. [`with_api`] overrides both for
//! one future (tests and programs that talk to several servers use it). With neither, the
//! `embedded-server` feature (on by default) starts a Weir server inside the process.

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

    /// The same server with an API key, sent as `Authorization: Bearer <key>`.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.auth = Auth::Bearer(key.into());
        self
    }

    /// The server named by the environment, if any.
    pub fn from_env() -> Option<Self> {
        let url = env::first_set(&[env::WEIR_API_URL, env::PREFECT_API_URL])?;
        Some(Self {
            url,
            auth: Auth::from_env(),
        })
    }

    /// The config of the innermost [`with_api`] scope, if any.
    pub(crate) fn scoped() -> Option<Self> {
        SCOPED.try_with(Clone::clone).ok()
    }

    /// The config in effect: the innermost [`with_api`] scope, else the environment, else (with
    /// the `embedded-server` feature) a server started in this process on `$WEIR_HOME/weir.db`.
    pub(crate) async fn resolve() -> Result<Self, crate::Error> {
        if let Some(config) = Self::scoped().or_else(Self::from_env) {
            return Ok(config);
        }
        #[cfg(feature = "embedded-server")]
        {
            crate::embedded::url().await.map(Self::new)
        }
        #[cfg(not(feature = "embedded-server"))]
        {
            Err(crate::Error::NoApiUrl)
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

/// Runs blocking `body` with flows reporting to `config` (a blocking task started from a scope).
pub(crate) fn sync_with_api<R>(config: ApiConfig, body: impl FnOnce() -> R) -> R {
    SCOPED.sync_scope(config, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each test runs in its own process under nextest, so the environment is this test's own.
    #[test]
    fn weir_names_win_and_an_api_key_wins_over_an_auth_string() {
        for name in [
            env::WEIR_API_URL,
            env::WEIR_API_KEY,
            env::WEIR_API_AUTH_STRING,
            env::PREFECT_API_KEY,
        ] {
            std::env::remove_var(name);
        }
        std::env::set_var(env::PREFECT_API_URL, "http://prefect:4200/api");
        std::env::set_var(env::PREFECT_API_AUTH_STRING, "admin:pass");
        let config = ApiConfig::from_env().unwrap();
        assert_eq!(config.url, "http://prefect:4200/api");
        assert!(matches!(&config.auth, Auth::Basic(s) if s == "admin:pass"));
        std::env::set_var(env::WEIR_API_URL, "http://weir:4200/api");
        std::env::set_var(env::PREFECT_API_KEY, "pnu_key");
        let config = ApiConfig::from_env().unwrap();
        assert_eq!(config.url, "http://weir:4200/api");
        assert!(matches!(&config.auth, Auth::Bearer(k) if k == "pnu_key"));
        assert_eq!(config.auth.websocket_token().as_deref(), Some("pnu_key"));
    }
}
