//! HTTP Basic authentication with the server's auth string (`WEIR_SERVER_API_AUTH_STRING`, also read
//! as `PREFECT_SERVER_API_AUTH_STRING`), compared in constant time. Health and readiness stay open;
//! websockets authenticate with their first frame instead (see `routes::events`).

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

/// Paths that never need credentials.
const OPEN_PATHS: &[&str] = &["/api/health", "/api/ready"];
/// Websocket paths, which authenticate in their first frame.
const WEBSOCKET_PATHS: &[&str] = &["/api/events/in", "/api/events/out"];

/// Whether `secret` equals the configured auth string (always true when none is configured).
pub fn token_matches(configured: Option<&str>, secret: Option<&str>) -> bool {
    match configured {
        None => true,
        Some(expected) => {
            secret.is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
        }
    }
}

/// Rejects requests without the right `Authorization: Basic` header when an auth string is set.
pub async fn require_auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = state.config.auth_string.as_deref() else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) || WEBSOCKET_PATHS.contains(&path) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok());
    if token_matches(Some(expected), given.as_deref()) {
        next.run(request).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn tokens_match_only_exactly() {
        assert!(token_matches(None, None));
        assert!(token_matches(Some("u:p"), Some("u:p")));
        assert!(!token_matches(Some("u:p"), Some("u:p ")));
        assert!(!token_matches(Some("u:p"), None));
    }
}
