//! Kubernetes tasks, blocks and Job runs against the Kubernetes API simulator on loopback (tasks
//! build their clients from credentials, as in a flow), and the Job flow against a Weir server.

mod blocks;
mod crud;
mod job;

use serde_json::Value;
use weir_kube_sim::{Config, Simulator};
use weir_kube_tasks::{KubernetesClusterConfig, KubernetesCredentials};

/// A simulator on a loopback port, its clock 20 times real time, and credentials for it as a
/// cluster config block would hold them.
struct Cluster {
    sim: Simulator,
    credentials: KubernetesCredentials,
}

impl Cluster {
    async fn start() -> Cluster {
        let sim = Simulator::with_config(Config {
            clock_speed: 20.0,
            ..Config::default()
        });
        let addr = sim.listen(0).await.expect("listen");
        let config: Value = serde_saphyr::from_str(&Simulator::kubeconfig(addr, "admin"))
            .expect("the simulator's kubeconfig is YAML");
        let credentials = KubernetesCredentials::new(KubernetesClusterConfig {
            config,
            context_name: "weir-sim".into(),
        });
        Cluster { sim, credentials }
    }

    async fn client(&self) -> kube::Client {
        self.credentials.client().await.expect("client")
    }
}
