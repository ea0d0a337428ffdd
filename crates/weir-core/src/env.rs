//! Every environment variable Weir reads, in one place. Prefect's names are read as fallbacks so
//! existing Prefect setups keep working.

/// Weir's home folder (default `~/.weir`): the SQLite database and local results live here.
pub const WEIR_HOME: &str = "WEIR_HOME";
/// The server's database URL (`sqlite://...` or `postgresql://...`).
pub const WEIR_DATABASE_URL: &str = "WEIR_DATABASE_URL";
/// The server's HTTP Basic auth string (`user:password`).
pub const WEIR_SERVER_API_AUTH_STRING: &str = "WEIR_SERVER_API_AUTH_STRING";
/// Prefect's name for the server auth string.
pub const PREFECT_SERVER_API_AUTH_STRING: &str = "PREFECT_SERVER_API_AUTH_STRING";
/// The port a PaaS platform asks the server to listen on.
pub const PORT: &str = "PORT";
/// The API URL clients use (`http://127.0.0.1:4200/api`).
pub const WEIR_API_URL: &str = "WEIR_API_URL";
/// Prefect's name for the API URL.
pub const PREFECT_API_URL: &str = "PREFECT_API_URL";
/// The auth string clients send.
pub const WEIR_API_AUTH_STRING: &str = "WEIR_API_AUTH_STRING";
/// Prefect's name for the client auth string.
pub const PREFECT_API_AUTH_STRING: &str = "PREFECT_API_AUTH_STRING";
/// Log filter of the `weir` binary (tracing's `EnvFilter` syntax).
pub const RUST_LOG: &str = "RUST_LOG";
