//! Legacy discovery documents (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`),
//! built from the resource table. Aggregated discovery is not served: clients that ask for it
//! receive the legacy documents and fall back, as they do against older servers.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::resources::{ResourceType, RESOURCES};

pub(crate) async fn version() -> Json<Value> {
    Json(json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-weir-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    }))
}

pub(crate) async fn api_versions() -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:0"}]
    }))
}

fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

pub(crate) async fn api_groups() -> Json<Value> {
    let groups: Vec<Value> = groups()
        .into_iter()
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

fn resource_entries(rt: &ResourceType) -> Vec<Value> {
    let mut out = vec![json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": rt.verbs(),
        "shortNames": rt.short_names,
        "categories": if matches!(rt.plural, "pods" | "jobs" | "deployments" | "services") { vec!["all"] } else { vec![] },
    })];
    for sub in rt.subresources {
        let (kind, verbs): (&str, &[&str]) = match *sub {
            "log" => ("Pod", &["get"]),
            "eviction" => ("Eviction", &["create"]),
            "finalize" => (rt.kind, &["update"]),
            _ => (rt.kind, &["get", "patch", "update"]),
        };
        out.push(json!({
            "name": format!("{}/{sub}", rt.plural),
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": kind,
            "verbs": verbs,
        }));
    }
    out
}

fn resource_list(group: &str, version: &str) -> Response {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(resource_entries)
        .collect();
    if resources.is_empty() {
        return ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .into_response();
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Json(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
        .into_response()
}

pub(crate) async fn core_resources(Path(version): Path<String>) -> Response {
    resource_list("", &version)
}

pub(crate) async fn group_resources(Path((group, version)): Path<(String, String)>) -> Response {
    resource_list(&group, &version)
}

/// `/openapi/v2`: an empty document. kubectl downloads it before validating; with the v3 documents
/// below it then leaves validation to the server (`fieldValidation`).
pub(crate) async fn openapi_v2() -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
        )],
        Vec::<u8>::new(),
    )
        .into_response()
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of group-version documents.
pub(crate) async fn openapi_v3_root() -> Json<Value> {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES {
        let p = gv_path(r.group, r.version);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=0")}),
        );
    }
    Json(json!({"paths": paths}))
}

/// `/openapi/v3/{gv}`: one PATCH operation per resource, tagged with its kind and the
/// `fieldValidation` parameter, which is what clients look for to use server-side validation.
pub(crate) async fn openapi_v3_gv(Path(rest): Path<String>) -> Response {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES
        .iter()
        .filter(|r| gv_path(r.group, r.version) == rest.trim_end_matches('/'))
    {
        let base = format!("/{}", gv_path(r.group, r.version));
        let item = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let op = json!({
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "x-kubernetes-action": "patch",
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(item, json!({
            "patch": op,
            "parameters": [
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            ],
        }));
    }
    if paths.is_empty() {
        return ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .into_response();
    }
    Json(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-weir-sim"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
    .into_response()
}
