//! The `weir-server` chart: SQLite on a claim with one replica and a Recreate rollout, PostgreSQL
//! from a Secret with several replicas, the Service, Ingress, probes and credentials by reference.

use serde_json::{json, Value};

use crate::helm::{manifests, render, Manifests};

const CHART: &str = "weir-server";
const FULLNAME: &str = "r-weir-server";

fn pod(rendered: &Manifests) -> &Value {
    &rendered.one("Deployment")["spec"]["template"]["spec"]
}

#[test]
fn sqlite_runs_one_replica_on_a_created_claim() {
    let rendered = manifests(CHART, "defaults");
    let deployment = rendered.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let claim = rendered.one("PersistentVolumeClaim");
    assert_eq!(claim["metadata"]["name"], format!("{FULLNAME}-data"));
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert!(claim["spec"].get("storageClassName").is_none());
    assert_eq!(
        pod(&rendered)["volumes"][1],
        json!({"name": "data", "persistentVolumeClaim": {"claimName": format!("{FULLNAME}-data")}})
    );
    let container = rendered.container();
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "tmp", "mountPath": "/tmp"}, {"name": "data", "mountPath": "/data"}])
    );
    assert_eq!(
        rendered.env("WEIR_DATABASE_URL").unwrap()["value"],
        "sqlite:///data/weir.db"
    );
    assert_eq!(
        rendered.args(),
        ["server", "start", "--host", "0.0.0.0", "--port", "4200"]
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/api/health", "port": "http"})
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/api/ready", "port": "http"})
    );
    assert_eq!(container["ports"][0]["containerPort"], 4200);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let service = rendered.one("Service");
    assert_eq!(service["metadata"]["name"], FULLNAME);
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http", "port": 4200, "targetPort": "http", "protocol": "TCP"}])
    );
    assert!(rendered.of_kind("Ingress").is_empty());
    assert!(rendered.env("WEIR_SERVER_API_AUTH_STRING").is_none());
}

#[test]
fn sqlite_on_an_existing_claim_creates_none_and_takes_credentials_by_reference() {
    let rendered = manifests(CHART, "sqlite-existing-claim");
    assert!(rendered.of_kind("PersistentVolumeClaim").is_empty());
    assert_eq!(
        pod(&rendered)["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "weir-data"
    );
    assert_eq!(
        rendered.env("WEIR_SERVER_API_AUTH_STRING").unwrap()["valueFrom"],
        json!({"secretKeyRef": {"name": "weir-auth", "key": "auth-string"}})
    );
    assert_eq!(
        rendered.env("WEIR_SERVER_BOOTSTRAP_API_KEY").unwrap()["valueFrom"],
        json!({"secretKeyRef": {"name": "weir-bootstrap-key", "key": "api-key"}})
    );
    let service = rendered.one("Service");
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(service["spec"]["ports"][0]["port"], 80);
}

#[test]
fn a_created_claim_takes_its_class_and_size() {
    let rendered = manifests(CHART, "sqlite-storage-class");
    let claim = rendered.one("PersistentVolumeClaim");
    assert_eq!(claim["spec"]["storageClassName"], "fast-ssd");
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOncePod"]));
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "10Gi");
    assert_eq!(
        claim["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
}

#[test]
fn postgresql_runs_several_replicas_from_a_secret_url() {
    let rendered = manifests(CHART, "postgresql-replicas");
    let deployment = rendered.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert!(rendered.of_kind("PersistentVolumeClaim").is_empty());
    assert_eq!(
        rendered.env("WEIR_DATABASE_URL").unwrap(),
        &json!({"name": "WEIR_DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "weir-database", "key": "url"}}})
    );
    assert_eq!(
        rendered.container()["volumeMounts"],
        json!([{"name": "tmp", "mountPath": "/tmp"}])
    );
    assert_eq!(
        pod(&rendered)["nodeSelector"],
        json!({"kubernetes.io/os": "linux"})
    );
    assert!(pod(&rendered)["affinity"]["podAntiAffinity"].is_object());
}

#[test]
fn sqlite_with_two_replicas_is_refused_and_postgresql_allows_them() {
    let error = render(CHART, &[], &["replicaCount=2"]).unwrap_err();
    assert!(
        error.contains("replicaCount is 2 but database.type is sqlite"),
        "{error}"
    );
    let rendered = render(
        CHART,
        &[],
        &[
            "replicaCount=2",
            "database.type=postgresql",
            "database.postgresql.existingSecret.name=db",
        ],
    )
    .unwrap();
    assert_eq!(
        Manifests::parse(&rendered).one("Deployment")["spec"]["replicas"],
        2
    );
}

#[test]
fn the_ingress_routes_to_the_service_port() {
    let rendered = manifests(CHART, "ingress");
    let ingress = rendered.one("Ingress");
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{"secretName": "weir-tls", "hosts": ["weir.example.com"]}])
    );
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "weir.example.com");
    assert_eq!(
        rule["http"]["paths"][0],
        json!({"path": "/", "pathType": "Prefix",
               "backend": {"service": {"name": FULLNAME, "port": {"name": "http"}}}})
    );
    assert_eq!(rendered.one("Service")["spec"]["ports"][0]["name"], "http");
    assert_eq!(rendered.container()["ports"][0]["containerPort"], 8080);
    let args = rendered.args();
    assert_eq!(args[args.len() - 1], "8080");
    assert!(rendered.container().get("readinessProbe").is_none());
}
