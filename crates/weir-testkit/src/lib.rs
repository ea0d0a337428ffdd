//! Test support shared by every crate's tests: throw-away databases on both backends, Weir servers
//! on free loopback ports, and [`storage_test!`], which stamps one test out for SQLite and PostgreSQL.
//!
//! PostgreSQL tests use the local server (`WEIR_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets its own schema, dropped afterwards.

pub mod prefect;

mod tools;

use std::net::SocketAddr;
pub use tools::{example_binary, helm_binary};
use weir_storage::Store;

/// The PostgreSQL server tests use.
pub fn postgres_url() -> String {
    std::env::var("WEIR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Keeps a test database alive; dropping it removes the database.
pub enum TestDb {
    /// A temporary folder holding the SQLite file.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL schema private to the test.
    Postgres { schema: String },
}

impl TestDb {
    /// The database URL a `weir server start --database-url` would take for this database.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => format!("sqlite://{}", dir.path().join("weir.db").display()),
            TestDb::Postgres { schema } => {
                let base = postgres_url();
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{schema}")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { schema } = self {
            let schema = schema.clone();
            // Drop runs outside async context; a short-lived runtime on its own thread does the I/O.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        if let Ok(pool) = sqlx::PgPool::connect(&postgres_url()).await {
                            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                            let _ = sqlx::query(&sql).execute(&pool).await;
                            pool.close().await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// A fresh SQLite database in a temporary folder.
pub async fn sqlite_db() -> TestDb {
    TestDb::Sqlite(tempfile::tempdir().expect("temporary folder"))
}

/// A fresh, empty PostgreSQL schema.
pub async fn postgres_db() -> TestDb {
    let schema = format!("weir_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&postgres_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} is needed by this test: {e}",
                postgres_url()
            )
        });
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .expect("create test schema");
    pool.close().await;
    TestDb::Postgres { schema }
}

/// Opens a migrated store on `db`.
pub async fn open(db: &TestDb) -> Store {
    Store::open(&db.url()).await.expect("open test store")
}

/// A Weir server serving on a free port of 127.0.0.1 until dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Store,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves `store` with the default server settings.
    pub async fn start(store: Store) -> TestServer {
        Self::start_with(store, weir_server::ServerConfig::default()).await
    }

    /// Serves `store` with the given settings.
    pub async fn start_with(store: Store, config: weir_server::ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let server = weir_server::Server::new(store.clone(), config);
        let task = tokio::spawn(async move {
            let _ = server.serve(listener, std::future::pending()).await;
        });
        TestServer { addr, store, task }
    }

    /// `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Defines `mod $name { sqlite(), postgres() }`: the same async test body run against a fresh
/// [`TestDb`] of each backend, bound to `$db`.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = $crate::sqlite_db().await;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $db = $crate::postgres_db().await;
                $body
            }
        }
    };
}

/// A [`backend_test!`] whose body sees a migrated [`Store`] as `$store`.
#[macro_export]
macro_rules! storage_test {
    ($name:ident, |$store:ident| $body:block) => {
        $crate::backend_test!($name, |db| {
            let $store = $crate::open(&db).await;
            $body
        });
    };
}

/// A [`backend_test!`] whose body sees a running [`TestServer`] as `$server`.
#[macro_export]
macro_rules! server_test {
    ($name:ident, |$server:ident| $body:block) => {
        $crate::backend_test!($name, |db| {
            let $server = $crate::TestServer::start($crate::open(&db).await).await;
            $body
        });
    };
}
