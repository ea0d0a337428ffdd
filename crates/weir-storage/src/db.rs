//! The two backends behind one type, and the pieces of SQL that differ between them.
//!
//! Queries are written once, as text with `$1, $2...` placeholders (both SQLite and PostgreSQL read
//! them), and run on either native driver through [`on_pool!`], which expands its body once per
//! backend. [`SqlBuilder`] renders `weir-core` filter predicates into such text plus bind values.

use crate::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use weir_core::filters::{Predicate, SqlValue};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection pools of one backend. SQLite gets a single-connection pool for writes (SQLite allows
/// one writer at a time; queueing in the pool beats failing with SQLITE_BUSY) and a small pool of
/// readers, which WAL lets run beside the writer.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        /// Held while any handle lives; the background checkpointer stops once it is gone.
        #[allow(dead_code)]
        alive: std::sync::Arc<()>,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's write pool (or, with `read`, its read pool).
macro_rules! on_pool {
    (read $db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { read: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { write: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Binds every value of `$args` (a `Vec<SqlValue>`) to the query `$query`.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                weir_core::filters::SqlValue::Text(text) => query.bind(text),
                weir_core::filters::SqlValue::Int(int) => query.bind(int),
            };
        }
        query
    }};
}
pub(crate) use bind_all;

impl Db {
    pub(crate) async fn connect(url: &str) -> Result<Db> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| Error::UnsupportedUrl(url.to_owned()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .pragma("cache_size", "-16000")
                .pragma("temp_store", "memory");
            // Checkpoints (which fsync) normally run on their own connection in the background
            // instead of stalling whichever write crosses the auto-checkpoint threshold; the
            // writer's own auto-checkpoint stays as a bound on the WAL (~40 MB) should the
            // background one fall behind.
            let writer_options = options.clone().pragma("wal_autocheckpoint", "10000");
            let in_memory = url.contains(":memory:");
            // A local file needs no liveness probe before each use; skipping it saves a round trip
            // to the connection's worker thread on every query.
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(writer_options)
                .await?;
            // An in-memory database exists once per connection: readers must share the writer.
            let read = if in_memory {
                write.clone()
            } else {
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.clone().read_only(true))
                    .await?
            };
            let alive = std::sync::Arc::new(());
            if !in_memory {
                spawn_checkpointer(options, std::sync::Arc::downgrade(&alive));
            }
            Ok(Db::Sqlite { write, read, alive })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|_| Error::UnsupportedUrl(url.to_owned()))?;
            Ok(Db::Postgres(Self::pg_pool(options).await?))
        } else {
            Err(Error::UnsupportedUrl(url.to_owned()))
        }
    }

    /// A PostgreSQL pool over `options` (tests use this to pin a schema through `search_path`).
    pub(crate) async fn pg_pool(options: PgConnectOptions) -> Result<PgPool> {
        Ok(PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?)
    }

    pub(crate) async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite { write, .. } => Ok(MIGRATOR.run(write).await?),
            Db::Postgres(pool) => Ok(MIGRATOR.run(pool).await?),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        on_pool!(read self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }

    pub(crate) fn builder(&self) -> SqlBuilder {
        SqlBuilder {
            backend: self.backend(),
            sql: String::new(),
            args: Vec::new(),
        }
    }
}

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own every [`CHECKPOINT_INTERVAL`]
/// until the database handles are dropped. PASSIVE never blocks readers or the writer; the writer
/// then never pays for a checkpoint's fsync itself, which is what kept p99 latency high.
fn spawn_checkpointer(options: SqliteConnectOptions, alive: std::sync::Weak<()>) {
    use sqlx::ConnectOptions;
    tokio::spawn(async move {
        let mut connection = match options.connect().await {
            Ok(connection) => connection,
            Err(err) => {
                tracing::error!(error = %err, "cannot open the checkpoint connection; the WAL will grow");
                return;
            }
        };
        while alive.upgrade().is_some() {
            if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut connection)
                .await
            {
                tracing::warn!(error = %err, "WAL checkpoint failed");
            }
            tokio::time::sleep(CHECKPOINT_INTERVAL).await;
        }
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut connection)
            .await;
    });
}

/// Accumulates SQL text and its bind values, numbering placeholders as it goes.
pub(crate) struct SqlBuilder {
    backend: Backend,
    pub(crate) sql: String,
    pub(crate) args: Vec<SqlValue>,
}

impl SqlBuilder {
    /// Appends literal SQL.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub(crate) fn bind(&mut self, value: SqlValue) -> &mut Self {
        self.args.push(value);
        self.sql.push('$');
        self.sql.push_str(&self.args.len().to_string());
        self
    }

    /// Appends `LIMIT`/`OFFSET` from a request's page (non-negative; no limit means all).
    pub(crate) fn page(&mut self, limit: Option<i64>, offset: Option<i64>) -> &mut Self {
        if let Some(limit) = limit {
            self.push(" LIMIT ").bind(SqlValue::Int(limit.max(0)));
        } else if self.backend == Backend::Sqlite && offset.is_some() {
            self.push(" LIMIT -1");
        }
        if let Some(offset) = offset {
            self.push(" OFFSET ").bind(SqlValue::Int(offset.max(0)));
        }
        self
    }

    /// Appends the SQL of a filter predicate.
    pub(crate) fn predicate(&mut self, predicate: &Predicate) -> &mut Self {
        match predicate {
            Predicate::True => self.push("1=1"),
            Predicate::False => self.push("1=0"),
            Predicate::And(parts) | Predicate::Or(parts) => {
                let joiner = if matches!(predicate, Predicate::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        self.push(joiner);
                    }
                    self.predicate(part);
                }
                self.push(")")
            }
            Predicate::Not(inner) => self.push("NOT (").predicate(inner).push(")"),
            Predicate::In(column, values) => {
                self.push(column).push(" IN (");
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.bind(value.clone());
                }
                self.push(")")
            }
            Predicate::IsNull(column) => self.push(column).push(" IS NULL"),
            Predicate::Compare(column, op, value) => self
                .push(column)
                .push(" ")
                .push(op)
                .push(" ")
                .bind(value.clone()),
            Predicate::Contains(column, needle) => {
                let escaped = needle
                    .to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                self.push("lower(").push(column).push(") LIKE ");
                self.bind(SqlValue::Text(format!("%{escaped}%")))
                    .push(" ESCAPE '\\'")
            }
            Predicate::StartsWith(column, prefix) => {
                self.push("substr(").push(column).push(", 1, ");
                self.push(&prefix.chars().count().to_string()).push(") = ");
                self.bind(SqlValue::Text(prefix.clone()))
            }
            Predicate::HasTag(column, tag) => {
                let function = match self.backend {
                    Backend::Sqlite => "instr",
                    Backend::Postgres => "strpos",
                };
                self.push(function).push("(").push(column).push(", ");
                self.bind(SqlValue::Text(format!("|{tag}|"))).push(") > 0")
            }
            Predicate::InSubquery {
                column,
                table,
                key,
                predicate,
            } => {
                self.push(column)
                    .push(" IN (SELECT ")
                    .push(key)
                    .push(" FROM ")
                    .push(table);
                self.push(" WHERE ").push(key).push(" IS NOT NULL AND ");
                self.predicate(predicate).push(")")
            }
        }
    }
}

/// Tags in their stored form: `|a|b|` (`|` alone for none), so a tag test is a substring test.
pub(crate) fn tags_column(tags: &[String]) -> String {
    let mut column = String::from("|");
    for tag in tags {
        column.push_str(tag);
        column.push('|');
    }
    column
}

/// Text of an optional display value, for nullable columns.
pub(crate) fn opt_text<T: ToString>(value: Option<T>) -> Option<String> {
    value.map(|v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(backend: Backend, predicate: &Predicate) -> (String, Vec<SqlValue>) {
        let mut b = SqlBuilder {
            backend,
            sql: String::new(),
            args: Vec::new(),
        };
        b.predicate(predicate);
        (b.sql, b.args)
    }

    #[test]
    fn predicates_render_with_numbered_placeholders() {
        let p = Predicate::And(vec![
            Predicate::In("state_type", vec![SqlValue::Text("RUNNING".into())]),
            Predicate::HasTag("tags", "etl".into()),
        ]);
        let (sql, args) = render(Backend::Postgres, &p);
        assert_eq!(sql, "(state_type IN ($1) AND strpos(tags, $2) > 0)");
        assert_eq!(args[1], SqlValue::Text("|etl|".into()));
        assert!(render(Backend::Sqlite, &p).0.contains("instr(tags, $2)"));
    }

    #[test]
    fn like_patterns_are_escaped() {
        let (_, args) = render(
            Backend::Sqlite,
            &Predicate::Contains("name", "50%_OFF".into()),
        );
        assert_eq!(args[0], SqlValue::Text("%50\\%\\_off%".into()));
    }
}
