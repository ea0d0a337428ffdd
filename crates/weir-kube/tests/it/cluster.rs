//! Clients built from a `KubernetesClusterConfig` block and from kubeconfig files reach the
//! simulator over loopback; a wrong context is a clear error.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use serde_json::{json, Value};
use weir_kube::cluster::{self, ClusterError, Source};
use weir_kube_sim::{Rbac, Simulator, User};

/// A simulator on loopback that accepts only `token`, and its kubeconfig (YAML text).
async fn simulator(token: &str) -> (Simulator, String) {
    let sim = Simulator::new();
    sim.set_rbac(Rbac::closed().with_token(token, User::admin()));
    let addr = sim.listen(0).await.expect("listen");
    (sim, Simulator::kubeconfig(addr, token))
}

/// The kubeconfig YAML as the JSON object a block stores.
fn as_json(kubeconfig_yaml: &str) -> Value {
    serde_saphyr::from_str(kubeconfig_yaml).expect("the simulator's kubeconfig is YAML")
}

async fn reaches(client: kube::Client) {
    let namespaces: Api<Namespace> = Api::all(client);
    let names: Vec<String> = namespaces
        .list(&Default::default())
        .await
        .expect("list namespaces through the client")
        .items
        .into_iter()
        .filter_map(|ns| ns.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");
}

#[tokio::test]
async fn a_block_with_a_json_kubeconfig_reaches_the_cluster() {
    let (_sim, kubeconfig) = simulator("block-token").await;
    let block = json!({"config": as_json(&kubeconfig), "context_name": "weir-sim"});
    reaches(cluster::connect(Some(&block)).await.unwrap()).await;
}

#[tokio::test]
async fn a_block_with_a_yaml_string_reaches_the_cluster() {
    let (_sim, kubeconfig) = simulator("yaml-token").await;
    let block = json!({"config": kubeconfig, "context_name": "weir-sim"});
    reaches(cluster::connect(Some(&block)).await.unwrap()).await;
}

#[tokio::test]
async fn a_block_sends_its_token() {
    let (_sim, kubeconfig) = simulator("right").await;
    let wrong = kubeconfig.replace("token: right", "token: wrong");
    let block = json!({"config": as_json(&wrong), "context_name": "weir-sim"});
    let client = cluster::connect(Some(&block)).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    let err = namespaces.list(&Default::default()).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(status) if status.code == 401),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_context_names_the_available_ones() {
    let (_sim, kubeconfig) = simulator("t").await;
    let block = json!({"config": as_json(&kubeconfig), "context_name": "prod"});
    let err = cluster::connect(Some(&block)).await.err().unwrap();
    assert!(matches!(err, ClusterError::UnknownContext { .. }));
    assert_eq!(
        err.to_string(),
        "context \"prod\" is not in the kubeconfig; available contexts: weir-sim"
    );
}

#[tokio::test]
async fn a_kubeconfig_file_reaches_the_cluster_after_an_absent_in_cluster_config() {
    let (_sim, kubeconfig) = simulator("file-token").await;
    let path = std::env::temp_dir().join(format!("weir-kube-{}.kubeconfig", uuid::Uuid::new_v4()));
    std::fs::write(&path, kubeconfig).unwrap();
    let missing = std::env::temp_dir().join("weir-kube-no-such.kubeconfig");
    // In a test process KUBERNETES_SERVICE_HOST is unset, so the service account is skipped, as
    // is a kubeconfig path that does not exist.
    let client = cluster::connect_with(&[
        Source::KubeconfigFile(&missing),
        Source::KubeconfigFile(&path),
    ])
    .await
    .unwrap();
    reaches(client).await;
    std::fs::remove_file(&path).ok();
}

/// `connect(None)` reads `KUBECONFIG`: this test binary runs itself with it set (the variable is
/// never changed in the test process).
#[tokio::test]
async fn kubeconfig_from_the_environment() {
    const CHILD: &str = "WEIR_KUBE_TEST_KUBECONFIG_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // The child: the simulator's address is in the KUBECONFIG the parent set.
        reaches(cluster::connect(None).await.unwrap()).await;
        return;
    }
    let (_sim, kubeconfig) = simulator("env-token").await;
    let path = std::env::temp_dir().join(format!("weir-kube-{}.kubeconfig", uuid::Uuid::new_v4()));
    std::fs::write(&path, kubeconfig).unwrap();
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "cluster::kubeconfig_from_the_environment"])
        .env(CHILD, "1")
        .env("KUBECONFIG", &path)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&path).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child test failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The simulator names a local pod's service-account folder with the variable Weir reads.
#[test]
fn the_simulator_and_weir_agree_on_the_service_account_folder_variable() {
    assert_eq!(
        weir_kube_sim::podfiles::SERVICE_ACCOUNT_DIR_ENV,
        weir_core::env::WEIR_KUBERNETES_SERVICE_ACCOUNT_DIR
    );
    assert_eq!(
        weir_kube_sim::podfiles::SERVICE_ACCOUNT_PATH,
        cluster::SERVICE_ACCOUNT_PATH
    );
}
