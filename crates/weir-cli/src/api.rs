//! What the API verbs share: where the server is (`WEIR_API_URL`, then `PREFECT_API_URL`, then the
//! local default), the client built from it, and API errors turned into one readable line.

use serde_json::Value;
use weir_client::{Auth, Client, Error};
use weir_core::env;

/// The API URL used when neither variable is set.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:4200/api";

/// The API URL and the variable it came from (`None`: the default).
pub fn api_url() -> (String, Option<&'static str>) {
    for name in [env::WEIR_API_URL, env::PREFECT_API_URL] {
        if let Some(url) = env::first_set(&[name]) {
            return (url, Some(name));
        }
    }
    (DEFAULT_API_URL.to_owned(), None)
}

/// A client of the configured server with the configured credentials.
pub fn client() -> Client {
    Client::new(&api_url().0, Auth::from_env())
}

/// Whether `err` is the server's 404.
pub fn is_not_found(err: &Error) -> bool {
    err.status().is_some_and(|s| s.as_u16() == 404)
}

/// Whether `err` is the server's 409.
pub fn is_conflict(err: &Error) -> bool {
    err.status().is_some_and(|s| s.as_u16() == 409)
}

/// The innermost cause of an error: for a refused connection, "Connection refused (os error 111)"
/// rather than reqwest's "error sending request".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The readable part of an error body: the offending field and why for a 422, else `detail`.
fn detail_of(body: &str) -> String {
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return body.trim().chars().take(300).collect();
    };
    if let Some(first) = json["exception_detail"].as_array().and_then(|d| d.first()) {
        let field: Vec<String> = first["loc"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|part| *part != "body")
            .map(|part| {
                part.as_str()
                    .map_or_else(|| part.to_string(), str::to_owned)
            })
            .collect();
        let msg = first["msg"].as_str().unwrap_or("invalid");
        return if field.is_empty() {
            msg.to_owned()
        } else {
            format!("{}: {msg}", field.join("."))
        };
    }
    for key in ["detail", "exception_message"] {
        if let Some(text) = json[key].as_str() {
            return text.to_owned();
        }
    }
    json.to_string()
}

/// An API error as one line a user can act on.
pub fn describe(err: &Error) -> String {
    match err {
        Error::Transport { url, source } => {
            let base = api_url().0;
            let shown = if url.starts_with(&base) { &base } else { url };
            format!(
                "cannot reach the server at {shown}: {} (is `weir server start` running? set WEIR_API_URL)",
                root_cause(source)
            )
        }
        Error::Status { status, body, .. } => match status.as_u16() {
            401 => format!(
                "the server refused the credentials ({status}: {}): set WEIR_API_KEY or WEIR_API_AUTH_STRING",
                detail_of(body)
            ),
            // Weir answers 401 for bad credentials; a 403 refuses the action itself (deleting a
            // protected block type), though other servers may mean the credentials.
            403 => format!(
                "the server refused the request ({status}): {} (if it is about access, check WEIR_API_AUTH_STRING or WEIR_API_KEY)",
                detail_of(body)
            ),
            422 => format!("the server refused the request: {}", detail_of(body)),
            _ => format!("the server answered {status}: {}", detail_of(body)),
        },
        Error::Decode { url, source } => format!("unexpected answer from {url}: {source}"),
    }
}

/// Converts API errors into `anyhow` errors with a readable message.
pub trait ApiResultExt<T> {
    /// Any error, described.
    fn api(self) -> anyhow::Result<T>;
    /// A 404 becomes "`what` not found"; other errors are described.
    fn or_not_found(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T> ApiResultExt<T> for weir_client::Result<T> {
    fn api(self) -> anyhow::Result<T> {
        self.map_err(|err| anyhow::anyhow!(describe(&err)))
    }

    fn or_not_found(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|err| {
            if is_not_found(&err) {
                anyhow::anyhow!("{} not found", what())
            } else {
                anyhow::anyhow!(describe(&err))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_their_detail() {
        let invalid = r#"{"exception_message": "Invalid request received.",
            "exception_detail": [{"loc": ["body", "name"], "msg": "bad name", "type": "value_error"}]}"#;
        assert_eq!(detail_of(invalid), "name: bad name");
        assert_eq!(
            detail_of(r#"{"detail": "Work pool not found"}"#),
            "Work pool not found"
        );
        assert_eq!(detail_of("plain\ntext "), "plain\ntext");
    }
}
