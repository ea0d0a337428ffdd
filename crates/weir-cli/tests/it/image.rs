//! The container image, proven without a Docker engine: the static `weir` (built by
//! `scripts/build-static.sh`, path in `$WEIR_STATIC_BINARY`) runs in a root folder holding only what
//! the `Dockerfile`'s final stage holds — the binary, CA certificates, passwd/group, empty /tmp and
//! /data, no shared library — read-only, as the image's user and with the image's environment (both
//! read from the `Dockerfile`), plus the /etc/hosts and /etc/resolv.conf a kubelet mounts. The
//! server answers /api/health, a worker reaches it by a Service name resolved through DNS, and the
//! command line by a name from /etc/hosts. Needs root (chroot, mount namespaces, port 53).

mod dns;

use super::*;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const STATIC_BINARY: &str = "WEIR_STATIC_BINARY";
/// The Service name the worker uses, as a pod in namespace `weir` would write it.
const SERVICE_NAME: &str = "weir-server.weir.svc";
/// The cluster DNS name it becomes through resolv.conf's search domains.
const SERVICE_FQDN: &str = "weir-server.weir.svc.cluster.local";
/// A name only /etc/hosts knows (Kubernetes writes `hostAliases` there).
const HOSTS_ALIAS: &str = "weir-server-alias";

#[tokio::test]
async fn the_static_binary_serves_and_works_in_an_empty_read_only_root() {
    let image = ImageConfig::from_dockerfile();
    let dns = dns::DnsServer::start(&[(SERVICE_FQDN, Ipv4Addr::LOCALHOST)]);
    let root = ImageRoot::create(&static_binary(), dns.address());

    let version = root.command(&image, &["--version"]).output().unwrap();
    assert!(version.status.success(), "{version:?}");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("weir "));

    // The image's environment binds every interface; PORT picks the port, as PaaS platforms set it.
    let mut server = root.command(&image, &["server", "start"]);
    server.env("PORT", "0").stderr(Stdio::piped());
    let mut server = KillOnDrop(server.spawn().expect("spawn the server in the image root"));
    let listening = wait_for_listening(&mut server.0);
    assert!(listening.starts_with("http://0.0.0.0:"), "{listening}");
    let port: u16 = listening
        .trim_start_matches("http://0.0.0.0:")
        .trim_end_matches("/api")
        .parse()
        .unwrap();
    let api = format!("http://127.0.0.1:{port}/api");
    let http = reqwest::Client::new();
    let health = http.get(format!("{api}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        root.path().join("data/weir.db").exists(),
        "the database is in the image's WEIR_HOME, /data"
    );

    let mut worker = root.command(
        &image,
        &[
            "worker", "start", "--type", "process", "--pool", "p", "--name", "in-image",
        ],
    );
    worker
        .env("WEIR_API_URL", format!("http://{SERVICE_NAME}:{port}/api"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _worker = KillOnDrop(worker.spawn().expect("spawn the worker in the image root"));
    let mut worker_names = Vec::new();
    for _ in 0..300 {
        let workers = http
            .post(format!("{api}/work_pools/p/workers/filter"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        if workers.status() == 200 {
            let workers: Vec<serde_json::Value> = workers.json().await.unwrap();
            worker_names = workers.iter().map(|w| w["name"].clone()).collect();
            if !worker_names.is_empty() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        worker_names,
        ["in-image"],
        "the worker heartbeats to the pool"
    );
    assert!(
        dns.queries().iter().any(|name| name == SERVICE_FQDN),
        "the worker found the server through DNS and the search domains: {:?}",
        dns.queries()
    );

    let pools = root
        .command(&image, &["work-pool", "ls", "--output", "json"])
        .env("WEIR_API_URL", format!("http://{HOSTS_ALIAS}:{port}/api"))
        .output()
        .unwrap();
    assert!(pools.status.success(), "{pools:?}");
    let pools: Vec<serde_json::Value> = serde_json::from_slice(&pools.stdout).unwrap();
    let pool_names: Vec<&serde_json::Value> = pools.iter().map(|pool| &pool["name"]).collect();
    assert_eq!(
        pool_names,
        ["p"],
        "the command line reached the server by /etc/hosts"
    );
}

/// The environment and user of the `Dockerfile`'s final stage.
struct ImageConfig {
    env: Vec<(String, String)>,
    user: String,
}

impl ImageConfig {
    fn from_dockerfile() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Dockerfile");
        let text = std::fs::read_to_string(&path).expect("read the Dockerfile");
        // One instruction per logical line: continuation lines joined, comments dropped.
        let joined = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("\\\n", " ");
        let lines: Vec<&str> = joined.lines().collect();
        let last_from = lines
            .iter()
            .rposition(|line| line.starts_with("FROM "))
            .expect("the Dockerfile has stages");
        let mut config = ImageConfig {
            env: Vec::new(),
            user: "0:0".to_owned(),
        };
        for line in &lines[last_from..] {
            if let Some(assignments) = line.strip_prefix("ENV ") {
                for assignment in assignments.split_whitespace() {
                    let (key, value) = assignment
                        .split_once('=')
                        .expect("ENV KEY=VALUE in the Dockerfile");
                    config.env.push((key.to_owned(), value.to_owned()));
                }
            } else if let Some(user) = line.strip_prefix("USER ") {
                config.user = user.trim().to_owned();
            }
        }
        config
    }
}

/// A folder holding what the image holds, plus what a kubelet mounts in /etc.
struct ImageRoot {
    dir: PathBuf,
}

impl ImageRoot {
    fn create(binary: &Path, nameserver: Ipv4Addr) -> Self {
        let dir = std::env::temp_dir().join(format!("weir-image-{}", uuid::Uuid::new_v4()));
        // dev and proc are only mount points, as in a container.
        for folder in [
            "usr/local/bin",
            "etc/ssl/certs",
            "tmp",
            "data",
            "dev",
            "proc",
        ] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
        }
        std::fs::copy(binary, dir.join("usr/local/bin/weir")).unwrap();
        std::fs::copy(
            "/etc/ssl/certs/ca-certificates.crt",
            dir.join("etc/ssl/certs/ca-certificates.crt"),
        )
        .unwrap();
        let files = [
            (
                "etc/passwd",
                "nonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n".to_owned(),
            ),
            ("etc/group", "nonroot:x:65532:\n".to_owned()),
            (
                "etc/hosts",
                format!("127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\t{HOSTS_ALIAS}\n"),
            ),
            (
                "etc/resolv.conf",
                format!(
                    "search weir.svc.cluster.local svc.cluster.local cluster.local\n\
                     nameserver {nameserver}\noptions ndots:5\n"
                ),
            ),
        ];
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        std::os::unix::fs::chown(dir.join("data"), Some(65532), Some(65532)).unwrap();
        ImageRoot { dir }
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    /// `weir ARGS` in this root: a mount namespace of its own where the root is read-only, /data
    /// writable and /tmp a tmpfs, with the /dev and /proc every container runtime provides (the
    /// static binary's random numbers come from /dev/urandom: static glibc has no `dlsym`), as the
    /// image's user with only the image's environment.
    fn command(&self, image: &ImageConfig, args: &[&str]) -> Command {
        const IN_ROOT: &str = r#"set -e
root=$1 user=$2; shift 2
mount --bind "$root" "$root"
mount --bind "$root/data" "$root/data"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=755 tmpfs "$root/dev"
for device in null zero full random urandom; do
  touch "$root/dev/$device"
  mount --bind "/dev/$device" "$root/dev/$device"
done
mount --rbind /proc "$root/proc"
mount -o remount,bind,ro "$root"
exec chroot --userspec="$user" "$root" /usr/local/bin/weir "$@""#;
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--", "sh", "-c", IN_ROOT, "sh"])
            .arg(&self.dir)
            .arg(&image.user)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .envs(image.env.iter().map(|(key, value)| (key, value)));
        command
    }
}

impl Drop for ImageRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `$WEIR_STATIC_BINARY`, checked: the test fails (never skips) without it, and without root.
fn static_binary() -> PathBuf {
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    assert!(
        is_root,
        "the image test needs root (chroot, mount namespaces)"
    );
    let Some(path) = std::env::var_os(STATIC_BINARY).filter(|p| !p.is_empty()) else {
        panic!(
            "${STATIC_BINARY} is not set: build the static binary with \
             `scripts/build-static.sh debug` and export its path (.ci/run does)"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "${STATIC_BINARY}={} is not a file: run scripts/build-static.sh debug",
        path.display()
    );
    path
}
