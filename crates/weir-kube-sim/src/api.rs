//! The REST handler behind every resource path: routing, authentication, authorization, fault
//! injection, and the verbs get, list, create, update, patch, delete and deletecollection, plus the
//! review resources. Watches go to [`crate::watch`], logs to [`crate::podlog`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::controllers::gc::{self, DeleteOptions};
use crate::error::{ApiError, Result};
use crate::faults::Fault;
use crate::meta;
use crate::patch::{self, PatchKind};
use crate::rbac::{self, Attributes, User};
use crate::resources::{self, known, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::sim::{Page, Shared};
use crate::store::WriteScope;
use crate::validate;

const MAX_BODY: usize = 16 * 1024 * 1024;

/// A parsed resource path.
pub(crate) struct Route {
    /// The stored resource type.
    pub rt: &'static ResourceType,
    /// The served type, when it differs from the stored one (events.k8s.io/v1 events).
    pub view: Option<&'static ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Route {
    /// The type clients see.
    pub fn served(&self) -> &'static ResourceType {
        self.view.unwrap_or(self.rt)
    }

    /// A stored object as this route's clients see it.
    pub fn present(&self, obj: &Value) -> Value {
        match self.view {
            Some(_) => crate::events::to_v1(obj),
            None => obj.clone(),
        }
    }

    /// A client's object in the stored shape.
    pub fn store_shape(&self, obj: Value) -> Value {
        match self.view {
            Some(_) => crate::events::to_core(&obj),
            None => obj,
        }
    }
}

pub(crate) type Params = HashMap<String, String>;

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn parse_route(path: &str) -> Result<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.first() {
        Some(&"api") if segs.len() >= 3 => ("", segs[1], &segs[2..]),
        Some(&"apis") if segs.len() >= 4 => (segs[1], segs[2], &segs[3..]),
        _ => return Err(not_found_path()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, res, ..]
            if resources::lookup(group, version, res).is_some_and(|r| r.namespaced) =>
        {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    if rest.is_empty() || rest.len() > 3 {
        return Err(not_found_path());
    }
    let rt = resources::lookup(group, version, rest[0]).ok_or_else(not_found_path)?;
    let name = rest.get(1).map(|s| s.to_string());
    let sub = rest.get(2).map(|s| s.to_string());
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(not_found_path());
    }
    if let Some(s) = &sub {
        if !rt.subresources.contains(&s.as_str()) {
            return Err(not_found_path());
        }
    }
    if rt.group == "events.k8s.io" {
        return Ok(Route {
            rt: known::events(),
            view: Some(rt),
            namespace,
            name,
            sub,
        });
    }
    Ok(Route {
        view: None,
        rt,
        namespace,
        name,
        sub,
    })
}

pub(crate) async fn handle(State(sim): State<Arc<Shared>>, req: Request) -> Response {
    match handle_inner(sim, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn verb_of(method: &Method, route: &Route, params: &Params) -> &'static str {
    let watch = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method.as_str(), route.name.is_some()) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) if watch => "watch",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

async fn handle_inner(sim: Arc<Shared>, req: Request) -> Result<Response> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if let Some(fault) = sim.faults.take(method.as_str(), &path) {
        match fault {
            Fault::Delay { millis } => {
                tokio::time::sleep(std::time::Duration::from_millis(millis)).await
            }
            Fault::TooManyRequests { retry_after } => {
                return Err(ApiError::too_many_requests(retry_after))
            }
            Fault::ServerError => {
                return Err(ApiError::internal(
                    "Internal error occurred: injected by the simulator",
                ))
            }
            Fault::StaleConflict => {
                // Another writer "wins": the object gets a new resourceVersion, so a client that
                // retries without re-reading conflicts again, as against a busy cluster.
                let route = parse_route(&path)?;
                let name = route.name.as_deref().unwrap_or("");
                let ns = route.namespace.as_deref().unwrap_or("");
                sim.store.touch(route.rt, ns, name);
                return Err(ApiError::stale(route.rt, name));
            }
        }
    }
    let auth = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let user = match sim.tokens.authenticate(auth.as_deref())? {
        Some(service_account) => service_account,
        None => sim
            .rbac
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .authenticate(auth.as_deref())?,
    };
    let params: Params = Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map(|q| q.0.into_iter().collect())
        .unwrap_or_default();
    let route = parse_route(&path)?;
    let verb = verb_of(&method, &route, &params);
    if verb == "unknown" {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    if !route.rt.stored {
        if verb != "create" {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        let body = read_json(req).await?;
        return reviews(&sim, &user, route.rt, body);
    }
    let attrs = Attributes {
        verb: verb.to_string(),
        group: route.served().group.to_string(),
        resource: route.served().plural.to_string(),
        subresource: route.sub.clone().unwrap_or_default(),
        namespace: route.namespace.clone().unwrap_or_default(),
        name: route.name.clone().unwrap_or_default(),
    };
    let (allowed, _) = rbac::authorize(&sim.store, &user, &attrs);
    if !allowed {
        return Err(rbac::forbidden(&user, &attrs));
    }
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ns = route.namespace.clone().unwrap_or_default();
    let name = route.name.clone().unwrap_or_default();
    match verb {
        "watch" => crate::watch::serve(&sim, &route, &params, &accept),
        "list" => list(&sim, &route, &params, &accept),
        "get" if route.sub.as_deref() == Some("log") => {
            crate::podlog::serve(&sim, &ns, &name, &params)
        }
        "get" => {
            let obj = sim
                .store
                .get(route.rt, &ns, &name)
                .ok_or_else(|| ApiError::not_found(route.rt, &name))?;
            Ok(respond(
                StatusCode::OK,
                &route.present(&obj),
                &accept,
                route.served(),
                &sim,
            ))
        }
        "create" if route.sub.as_deref() == Some("eviction") => {
            let body = read_json_opt(req).await?;
            evict(&sim, &ns, &name, body.as_ref())
        }
        "create" => {
            if route.name.is_some() {
                return Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ));
            }
            let body = read_json(req).await?;
            create(&sim, &route, &params, body)
        }
        "update" => {
            let body = read_json(req).await?;
            update(&sim, &route, &params, body)
        }
        "patch" => {
            let body = read_json(req).await?;
            let kind = PatchKind::from_content_type(&content_type)?;
            patch_object(&sim, &route, &params, kind, body)
        }
        "delete" => {
            let body = read_json_opt(req).await?;
            let opts = DeleteOptions::from_request(&params, body.as_ref());
            let (code, obj) = gc::delete(&sim, route.rt, &ns, &name, &opts)?;
            Ok((
                StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
                Json(route.present(&obj)),
            )
                .into_response())
        }
        _ => delete_collection(&sim, &route, &params, req).await,
    }
}

async fn read_bytes(req: Request) -> Result<bytes::Bytes> {
    to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("could not read request body: {e}")))
}

async fn read_json(req: Request) -> Result<Value> {
    let protobuf = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(crate::protobuf::is_protobuf);
    let bytes = read_bytes(req).await?;
    if protobuf {
        return crate::protobuf::decode(&bytes);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

async fn read_json_opt(req: Request) -> Result<Option<Value>> {
    let protobuf = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(crate::protobuf::is_protobuf);
    let bytes = read_bytes(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if protobuf {
        return crate::protobuf::decode(&bytes).map(Some);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

fn dry_run(params: &Params) -> bool {
    params.get("dryRun").is_some_and(|v| v == "All")
}

/// The response body for one object: JSON, or a Table when the client asks for one.
fn respond(
    code: StatusCode,
    obj: &Value,
    accept: &str,
    rt: &ResourceType,
    sim: &Shared,
) -> Response {
    if crate::table::wants_table(accept) {
        let table = crate::table::table(
            rt,
            &[Arc::new(obj.clone())],
            &json!({"resourceVersion": meta::resource_version(obj)}),
            sim.clock.now(),
        );
        return (code, Json(table)).into_response();
    }
    (code, Json(obj)).into_response()
}

fn check_namespace(sim: &Shared, rt: &ResourceType, ns: &str, name: &str) -> Result<()> {
    if !rt.namespaced {
        return Ok(());
    }
    let nsobj = sim
        .store
        .get(known::namespaces(), "", ns)
        .ok_or_else(|| ApiError::not_found(known::namespaces(), ns))?;
    if meta::is_deleting(&nsobj) {
        return Err(ApiError::forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            rt.group_resource(),
        )));
    }
    Ok(())
}

fn check_kind(rt: &ResourceType, body: &Value) -> Result<()> {
    let kind = meta::str_at(body, "kind");
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    let api_version = meta::str_at(body, "apiVersion");
    if !api_version.is_empty() && api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

fn place_namespace(route: &Route, body: &mut Value) -> Result<()> {
    if let Some(ns) = &route.namespace {
        let given = meta::namespace(body);
        if !given.is_empty() && given != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta::metadata_mut(body).insert("namespace".into(), ns.clone().into());
    }
    Ok(())
}

/// Checks that a pod's service account exists, as the ServiceAccount admission plugin does.
pub(crate) fn check_service_account(
    sim: &Shared,
    pod_spec: &Value,
    ns: &str,
    pod_name: &str,
) -> Result<()> {
    let sa = meta::str_at(pod_spec, "serviceAccountName");
    let sa = if sa.is_empty() { "default" } else { sa };
    if sim.store.get(known::serviceaccounts(), ns, sa).is_none() {
        return Err(ApiError::forbidden(format!(
            "pods \"{pod_name}\" is forbidden: error looking up service account {ns}/{sa}: serviceaccount \"{sa}\" not found"
        )));
    }
    Ok(())
}

/// Drops unknown fields; refuses them under `fieldValidation=Strict`; returns warnings otherwise.
fn unknown_fields(route: &Route, params: &Params, body: &mut Value) -> Result<Vec<String>> {
    let dropped = crate::fields::prune_unknown(route.rt.kind, body);
    match params.get("fieldValidation").map(String::as_str) {
        Some("Strict") if !dropped.is_empty() => {
            let list: Vec<String> = dropped
                .iter()
                .map(|d| format!("unknown field \"{d}\""))
                .collect();
            Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                route.rt.kind,
                route.rt.api_version(),
                route.rt.kind,
                list.join(", ")
            )))
        }
        Some("Ignore") => Ok(Vec::new()),
        _ => Ok(dropped
            .into_iter()
            .map(|d| format!("unknown field \"{d}\""))
            .collect()),
    }
}

/// Adds `Warning` headers, which kubectl prints and client libraries log.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        if let Ok(v) = http::HeaderValue::from_str(&format!("299 - \"{}\"", w.replace('"', "\\\"")))
        {
            response.headers_mut().append(http::header::WARNING, v);
        }
    }
    response
}

fn create(sim: &Shared, route: &Route, params: &Params, body: Value) -> Result<Response> {
    check_kind(route.served(), &body)?;
    let mut body = route.store_shape(body);
    let warnings = unknown_fields(route, params, &mut body)?;
    place_namespace(route, &mut body)?;
    let ns = route.namespace.clone().unwrap_or_default();
    check_namespace(sim, route.rt, &ns, meta::name(&body))?;
    if route.rt.plural == "pods" && route.rt.group.is_empty() {
        let name = meta::name(&body).to_string();
        check_service_account(sim, &body["spec"], &ns, &name)?;
    }
    let rt = route.rt;
    let obj = sim
        .store
        .create(rt, body, dry_run(params), |o| validate::admit_create(rt, o))?;
    let response = (StatusCode::CREATED, Json(route.present(&obj))).into_response();
    Ok(with_warnings(response, &warnings))
}

fn update(sim: &Shared, route: &Route, params: &Params, body: Value) -> Result<Response> {
    check_kind(route.served(), &body)?;
    let mut body = route.store_shape(body);
    let warnings = unknown_fields(route, params, &mut body)?;
    place_namespace(route, &mut body)?;
    let ns = route.namespace.clone().unwrap_or_default();
    let name = route.name.clone().unwrap_or_default();
    if meta::name(&body) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta::name(&body)
        )));
    }
    let scope = if route.sub.as_deref() == Some("status") {
        WriteScope::Status
    } else {
        WriteScope::Main
    };
    let rt = route.rt;
    let obj = sim
        .store
        .update(rt, &ns, &name, scope, dry_run(params), |old| {
            let mut new = body;
            if scope == WriteScope::Main {
                validate::admit_update(rt, old, &mut new)?;
            }
            Ok(new)
        })?;
    Ok(with_warnings(
        (StatusCode::OK, Json(route.present(&obj))).into_response(),
        &warnings,
    ))
}

fn patch_object(
    sim: &Shared,
    route: &Route,
    params: &Params,
    kind: PatchKind,
    body: Value,
) -> Result<Response> {
    let ns = route.namespace.clone().unwrap_or_default();
    let name = route.name.clone().unwrap_or_default();
    let rt = route.rt;
    if kind == PatchKind::Apply && sim.store.get(rt, &ns, &name).is_none() {
        if params.get("fieldManager").is_none_or(String::is_empty) {
            return Err(ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
        }
        let mut obj = body;
        meta::metadata_mut(&mut obj).insert("name".into(), name.clone().into());
        let r = Route {
            view: route.view,
            rt,
            namespace: route.namespace.clone(),
            name: None,
            sub: None,
        };
        return create(sim, &r, params, obj);
    }
    let scope = if route.sub.as_deref() == Some("status") {
        WriteScope::Status
    } else {
        WriteScope::Main
    };
    let obj = sim
        .store
        .update(rt, &ns, &name, scope, dry_run(params), |old| {
            let mut new = route.store_shape(patch::apply(kind, &route.present(old), &body)?);
            if scope == WriteScope::Main {
                validate::admit_update(rt, old, &mut new)?;
            }
            Ok(new)
        })?;
    Ok((StatusCode::OK, Json(route.present(&obj))).into_response())
}

/// The `fieldSelector` parameter in terms of the stored type's fields.
pub(crate) fn field_selector(route: &Route, params: &Params) -> Result<FieldSelector> {
    let text = params.get("fieldSelector").map_or("", String::as_str);
    match route.view {
        Some(_) => FieldSelector::parse(&crate::events::core_field_selector(text), route.rt),
        None => FieldSelector::parse(text, route.rt),
    }
}

fn selected(sim: &Shared, route: &Route, params: &Params) -> Result<Vec<Arc<Value>>> {
    let labels = LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str))?;
    let fields = field_selector(route, params)?;
    let (items, _) = sim.store.list(route.rt, route.namespace.as_deref());
    Ok(items
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect())
}

fn list(sim: &Shared, route: &Route, params: &Params, accept: &str) -> Result<Response> {
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let now = sim.clock.now();
    let (items, rv, offset, token) = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let (id, offset) = token
                .rsplit_once('.')
                .and_then(|(id, off)| off.parse::<usize>().ok().map(|o| (id.to_string(), o)))
                .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
            let mut pages = sim.pages.lock().unwrap_or_else(|e| e.into_inner());
            let ttl = chrono::Duration::from_std(sim.config.continue_ttl).unwrap_or_default();
            pages.retain(|_, p| now - p.created < ttl);
            let page = pages.get(&id).ok_or_else(|| {
                ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
            })?;
            (page.items.clone(), page.rv, offset, Some(id))
        }
        None => {
            let rv = sim.store.resource_version();
            (selected(sim, route, params)?, rv, 0, None)
        }
    };
    let end = if limit == 0 {
        items.len()
    } else {
        (offset + limit).min(items.len())
    };
    let page: Vec<Arc<Value>> = items
        .get(offset..end)
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    let mut list_meta = json!({"resourceVersion": rv.to_string()});
    if end < items.len() {
        let id = token.unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().simple().to_string();
            sim.pages.lock().unwrap_or_else(|e| e.into_inner()).insert(
                id.clone(),
                Page {
                    items: items.clone(),
                    rv,
                    created: now,
                },
            );
            id
        });
        list_meta["continue"] = format!("{id}.{end}").into();
        list_meta["remainingItemCount"] = (items.len() - end).into();
    }
    if crate::table::wants_table(accept) {
        return Ok(
            Json(crate::table::table(route.served(), &page, &list_meta, now)).into_response(),
        );
    }
    let body = json!({
        "kind": route.served().list_kind(),
        "apiVersion": route.served().api_version(),
        "metadata": list_meta,
        "items": page.iter().map(|o| route.present(o)).collect::<Vec<_>>(),
    });
    Ok(Json(body).into_response())
}

async fn delete_collection(
    sim: &Shared,
    route: &Route,
    params: &Params,
    req: Request,
) -> Result<Response> {
    let body = read_json_opt(req).await?;
    let opts = DeleteOptions::from_request(params, body.as_ref());
    let items = selected(sim, route, params)?;
    let mut deleted = Vec::new();
    for obj in items {
        let (_, last) = gc::delete(
            sim,
            route.rt,
            meta::namespace(&obj),
            meta::name(&obj),
            &opts,
        )?;
        deleted.push(route.present(&last));
    }
    let body = json!({
        "kind": route.served().list_kind(),
        "apiVersion": route.served().api_version(),
        "metadata": {"resourceVersion": sim.store.resource_version().to_string()},
        "items": deleted,
    });
    Ok(Json(body).into_response())
}

fn reviews(sim: &Shared, user: &User, rt: &ResourceType, mut body: Value) -> Result<Response> {
    check_kind(rt, &body)?;
    body["kind"] = rt.kind.into();
    body["apiVersion"] = rt.api_version().into();
    if meta::metadata_mut(&mut body)
        .get("creationTimestamp")
        .is_none()
    {
        meta::metadata_mut(&mut body).insert("creationTimestamp".into(), Value::Null);
    }
    if rt.plural == "selfsubjectreviews" {
        body["status"] = json!({"userInfo": {"username": user.name, "groups": user.groups}});
    } else if rt.plural == "selfsubjectaccessreviews" {
        let spec = &body["spec"];
        let (allowed, reason) = if let Some(ra) = spec.get("resourceAttributes") {
            let attrs = Attributes {
                verb: meta::str_at(ra, "verb").to_string(),
                group: meta::str_at(ra, "group").to_string(),
                resource: meta::str_at(ra, "resource").to_string(),
                subresource: meta::str_at(ra, "subresource").to_string(),
                namespace: meta::str_at(ra, "namespace").to_string(),
                name: meta::str_at(ra, "name").to_string(),
            };
            rbac::authorize(&sim.store, user, &attrs)
        } else if spec.get("nonResourceAttributes").is_some() {
            (
                true,
                "non-resource URLs are open in the simulator".to_string(),
            )
        } else {
            return Err(ApiError::invalid(
                rt,
                "",
                &[crate::error::FieldError::required(
                    "spec.resourceAttributes",
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )],
            ));
        };
        let mut status = json!({"allowed": allowed});
        if !reason.is_empty() {
            status["reason"] = reason.into();
        }
        body["status"] = status;
    } else {
        let ns = meta::str_at(&body, "spec.namespace").to_string();
        let rules = rbac::effective_rules(&sim.store, user, &ns);
        let resource_rules: Vec<Value> = rules
            .iter()
            .filter(|r| r.namespaces.is_empty() || r.namespaces.contains(&ns))
            .map(|r| json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources, "resourceNames": r.resource_names}))
            .collect();
        body["status"] = json!({
            "resourceRules": resource_rules,
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["*"]}],
            "incomplete": false
        });
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST pods/{name}/eviction`: marks the pod as a disruption target, then deletes it gracefully
/// (the kubelet sends a `run-local` process SIGTERM). No PodDisruptionBudgets are checked.
fn evict(sim: &Shared, ns: &str, name: &str, body: Option<&Value>) -> Result<Response> {
    let pods = known::pods();
    let pod = sim
        .store
        .get(pods, ns, name)
        .ok_or_else(|| ApiError::not_found(pods, name))?;
    let now = meta::time(sim.clock.now());
    let terminal = matches!(meta::str_at(&pod, "status.phase"), "Succeeded" | "Failed");
    if !terminal && !meta::is_deleting(&pod) {
        sim.store.update(pods, ns, name, WriteScope::Internal, false, |cur| {
            let mut next = cur.clone();
            let condition = json!({
                "type": "DisruptionTarget", "status": "True", "lastProbeTime": null, "lastTransitionTime": now,
                "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting",
            });
            match next["status"]["conditions"].as_array_mut() {
                Some(conds) => conds.push(condition),
                None => next["status"]["conditions"] = json!([condition]),
            }
            Ok(next)
        })?;
    }
    let opts =
        DeleteOptions::from_request(&Params::new(), body.and_then(|b| b.get("deleteOptions")));
    gc::delete(sim, pods, ns, name, &opts)?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok((StatusCode::CREATED, Json(status)).into_response())
}

/// A `Status` object for a successful deletion.
pub(crate) fn success_status(rt: &ResourceType, obj: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": meta::name(obj), "group": rt.group, "kind": rt.plural, "uid": meta::uid(obj)}
    })
}
