//! A real Prefect 3.9.1 server (`prefect server start`) on a free port of 127.0.0.1, for tests
//! that check Weir's clients against the original. It uses the venv at `$WEIR_PREFECT_VENV`
//! (default `/var/cache/weir/prefect-venv`, which `.ci/run` installs), a fresh `PREFECT_HOME`,
//! and is killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer its health check (it migrates a fresh database first).
const START_LIMIT: Duration = Duration::from_secs(120);

/// A running Prefect server.
pub struct PrefectServer {
    child: Child,
    port: u16,
    _home: tempfile::TempDir,
}

/// The venv holding `prefect==3.9.1`.
pub fn prefect_venv() -> PathBuf {
    let venv = std::env::var("WEIR_PREFECT_VENV")
        .unwrap_or_else(|_| "/var/cache/weir/prefect-venv".into());
    let venv = PathBuf::from(venv);
    assert!(
        venv.join("bin/prefect").exists(),
        "{} has no prefect: run .ci/run, or `python3 -m venv DIR && DIR/bin/pip install \
         prefect==3.9.1` and set WEIR_PREFECT_VENV=DIR",
        venv.display()
    );
    venv
}

impl PrefectServer {
    /// Starts the server and waits until `/api/health` answers.
    pub async fn start() -> PrefectServer {
        let home = tempfile::tempdir().expect("a PREFECT_HOME");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(home.path().join("server.log")).expect("a server log");
        let mut command = Command::new(prefect_venv().join("bin/prefect"));
        command
            .args([
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .env("PREFECT_HOME", home.path())
            .env("PREFECT_PROFILES_PATH", home.path().join("profiles.toml"))
            .env("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
            .env("PREFECT_UI_ENABLED", "false")
            .env_remove("PREFECT_API_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log);
        // Its own process group, so dropping the server also stops the workers it forks.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("prefect server start");
        let server = PrefectServer {
            child,
            port,
            _home: home,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let started = Instant::now();
        let address = format!("127.0.0.1:{}", self.port);
        let request = format!("GET /api/health HTTP/1.0\r\nHost: {address}\r\n\r\n");
        while started.elapsed() < START_LIMIT {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).await.is_ok()
                    && stream.read_to_string(&mut answer).await.is_ok()
                    && answer.starts_with("HTTP/1.1 200")
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = std::fs::read_to_string(self._home.path().join("server.log")).unwrap_or_default();
        panic!("prefect server did not become healthy within {START_LIMIT:?}:\n{log}");
    }

    /// `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }
}

impl Drop for PrefectServer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
