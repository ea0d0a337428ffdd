//! The one error type of the HTTP API and the extractors that produce it.
//!
//! Bodies follow Prefect's shapes: `{"detail": "..."}` for 403/404/409, `{"exception_message":
//! "Unauthorized", "detail": "..."}` for 401, FastAPI's validation body for
//! 422 (`exception_message`, `exception_detail` with the `loc` of the offending field), and
//! `{"exception_message": "Service Unavailable"}` for 503 (the Prefect client retries those). A 500
//! says nothing about its cause; the cause is logged once, here.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The object does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but invalid: `loc` is the path of the offending field (422).
    #[error("{loc:?}: {msg}")]
    Invalid { loc: Vec<String>, msg: String },
    /// The request conflicts with stored data (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is understood but not allowed, e.g. deleting a protected block type (403).
    #[error("{0}")]
    Forbidden(String),
    /// The body is larger than the server accepts (413).
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The credentials are missing or wrong (401); the message says which, never echoing them.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// The database is busy; the client may retry (503).
    #[error("service unavailable")]
    Unavailable,
    /// Anything else (500); the cause is logged, not returned.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A 422 about the request body field at `loc`.
    pub fn invalid(loc: &[&str], msg: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            loc: loc.iter().map(|s| (*s).to_owned()).collect(),
            msg: msg.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<weir_storage::Error> for ApiError {
    fn from(err: weir_storage::Error) -> Self {
        use weir_storage::Error as E;
        match err {
            E::NotFound { kind } => ApiError::NotFound(format!("{kind} not found")),
            E::Conflict(msg) => ApiError::Conflict(msg),
            E::Invalid(msg) => {
                let (field, msg) = match msg.split_once(": ") {
                    Some((field, rest)) if !field.contains(' ') => {
                        (field.to_owned(), rest.to_owned())
                    }
                    _ => (String::new(), msg),
                };
                let mut loc = vec!["body".to_owned()];
                if !field.is_empty() {
                    loc.push(field);
                }
                ApiError::Invalid { loc, msg }
            }
            E::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = match &self {
            ApiError::NotFound(detail)
            | ApiError::Conflict(detail)
            | ApiError::Forbidden(detail) => {
                json!({ "detail": detail })
            }
            ApiError::Invalid { loc, msg } => json!({
                "exception_message": "Invalid request received.",
                "exception_detail": [{ "loc": loc, "msg": msg, "type": "value_error" }],
                "detail": format!("{}: {msg}", loc.join(".")),
            }),
            ApiError::TooLarge(_) => json!({ "detail": self.to_string() }),
            ApiError::Unauthorized(detail) => {
                json!({ "exception_message": "Unauthorized", "detail": detail })
            }
            ApiError::Unavailable => json!({ "exception_message": "Service Unavailable" }),
            ApiError::Internal => json!({ "exception_message": "Internal Server Error" }),
        };
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"weir\", Basic realm=\"weir\""),
            );
        }
        response
    }
}

/// `Result` for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body parsed with the path of any offending field reported in the 422. An empty body
/// reads as `{}`, so endpoints whose fields are all optional accept it.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(crate::MAX_BODY_BYTES)
            } else {
                ApiError::invalid(&["body"], rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses `bytes` as `T`, reporting the failing field's path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        bytes
    };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => Ok(value),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let mut loc = vec!["body".to_owned()];
            loc.extend(
                path.split('.')
                    .filter(|p| !p.is_empty() && *p != "?")
                    .map(str::to_owned),
            );
            let msg = if inner.is_syntax() || inner.is_eof() {
                format!("JSON decode error: {inner}")
            } else {
                inner.to_string()
            };
            Err(ApiError::Invalid { loc, msg })
        }
    }
}

/// A path parameter parsed as `T`; a bad value is a 422 naming the parameter.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::invalid(&["path"], rejection.body_text()))
    }
}

/// Query parameters parsed as `T`; a bad value is a 422 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::invalid(&["query"], rejection.body_text()))
    }
}

/// 201 with `value` when the handler created it, 200 when it found an existing one (Prefect's
/// answer to upserts and idempotent creates).
pub fn created_or_found(created: bool, value: impl serde::Serialize) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_with_status(status, value)
}

/// The answer of a handler that returns JSON with a chosen status.
pub fn json_with_status(status: StatusCode, value: impl serde::Serialize) -> Response {
    (
        status,
        Json(serde_json::to_value(value).unwrap_or(Value::Null)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::schemas::SetStateRequest;

    #[test]
    fn a_bad_field_is_named_in_the_error() {
        let err = parse_json::<SetStateRequest>(br#"{"state": {"type": "SLEEPING"}}"#)
            .err()
            .unwrap();
        match err {
            ApiError::Invalid { loc, msg } => {
                assert_eq!(loc, ["body", "state", "type"]);
                assert!(msg.contains("SLEEPING"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_a_decode_error() {
        let err = parse_json::<SetStateRequest>(b"{\"state\": ")
            .err()
            .unwrap();
        assert!(
            matches!(err, ApiError::Invalid { ref msg, .. } if msg.starts_with("JSON decode error"))
        );
    }
}
