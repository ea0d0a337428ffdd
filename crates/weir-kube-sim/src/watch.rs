//! Watch streams: chunked JSON lines of `{"type", "object"}` events.
//!
//! A watch starts either from the current state (synthetic ADDED events, optionally ended by the
//! `k8s.io/initial-events-end` bookmark of a streaming list) or from a resourceVersion, replaying the
//! retained history after it (410 Expired when it is older). Selectors are applied per event, so an
//! object leaving the selection arrives as DELETED and one entering it as ADDED. The stream ends at
//! `timeoutSeconds`, is cut by injected drops, and ends with an ERROR 410 if the watcher lags.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::api::{Params, Route};
use crate::error::{ApiError, Result};
use crate::meta;
use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::sim::Shared;
use crate::store::{Change, EventType};

struct Filter {
    rt: &'static ResourceType,
    view: Option<&'static ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta::namespace(obj) == ns)
            && self.name.as_deref().is_none_or(|n| meta::name(obj) == n)
            && self.labels.matches(obj)
            && self.fields.matches(obj)
    }

    /// The event a watcher with this filter sees for a change, if any.
    fn translate(&self, change: &Change) -> Option<(&'static str, Arc<Value>)> {
        if change.resource.group != self.rt.group || change.resource.plural != self.rt.plural {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.previous.as_deref().is_some_and(|p| self.matches(p));
        let kind = match change.kind {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now || before => "DELETED",
            _ => return None,
        };
        let object = match self.view {
            Some(_) => Arc::new(crate::events::to_v1(&change.object)),
            None => change.object.clone(),
        };
        Some((kind, object))
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    text.push(b'\n');
    Bytes::from(text)
}

/// An event line whose object is shown as a one-row Table when the client asked for Tables.
fn event_line(
    kind: &str,
    object: &Arc<Value>,
    rt: &ResourceType,
    table: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Bytes {
    if !table {
        return line(kind, object);
    }
    let list_meta = json!({"resourceVersion": meta::resource_version(object)});
    line(
        kind,
        &crate::table::table(rt, std::slice::from_ref(object), &list_meta, now),
    )
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut obj = json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": {"resourceVersion": rv.to_string()}});
    if initial_end {
        obj["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line("BOOKMARK", &obj)
}

fn flag(params: &Params, key: &str) -> bool {
    params.get(key).is_some_and(|v| v == "true" || v == "1")
}

pub(crate) fn serve(
    sim: &Arc<Shared>,
    route: &Route,
    params: &Params,
    accept: &str,
) -> Result<Response> {
    let table = crate::table::wants_table(accept);
    let filter = Filter {
        rt: route.rt,
        view: route.view,
        namespace: route.namespace.clone(),
        name: route.name.clone(),
        labels: LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str))?,
        fields: crate::api::field_selector(route, params)?,
    };
    let bookmarks = flag(params, "allowWatchBookmarks");
    let initial = flag(params, "sendInitialEvents");
    let rv_param = params.get("resourceVersion").cloned().unwrap_or_default();
    if initial {
        if !sim.config.streaming_lists {
            return Err(ApiError::invalid(route.rt, "", &[crate::error::FieldError::forbidden("sendInitialEvents", "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")]));
        }
        if params.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan")
            || !bookmarks
        {
            return Err(ApiError::invalid(route.rt, "", &[crate::error::FieldError::forbidden("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks")]));
        }
    }
    let mut first: Vec<Bytes> = Vec::new();
    let (mut progress, rx) = if initial || rv_param.is_empty() || rv_param == "0" {
        let (items, rv, rx) = sim.store.snapshot_and_watch(route.rt);
        for obj in items.iter().filter(|o| filter.matches(o)) {
            let obj = Arc::new(route.present(obj));
            first.push(event_line(
                "ADDED",
                &obj,
                route.served(),
                table,
                sim.clock.now(),
            ));
        }
        if initial {
            first.push(bookmark(route.served(), rv, true));
        }
        (rv, rx)
    } else {
        let from: u64 = rv_param.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
        })?;
        // Like the watch cache, a too-old resourceVersion is answered in-stream: 200, then one
        // ERROR event carrying the 410 Expired status.
        let (backlog, rx) = match sim.store.watch_from(from) {
            Ok(found) => found,
            Err(expired) => {
                let body = Body::from(line("ERROR", &expired.to_status()));
                let mut response = body.into_response();
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                return Ok(response);
            }
        };
        let mut progress = from;
        for change in backlog {
            progress = progress.max(change.rv);
            if let Some((kind, obj)) = filter.translate(&change) {
                first.push(event_line(
                    kind,
                    &obj,
                    route.served(),
                    table,
                    sim.clock.now(),
                ));
            }
        }
        (progress, rx)
    };
    let timeout = match params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
    {
        Some(secs) => Duration::from_secs(secs),
        None => {
            let min = sim.config.min_request_timeout;
            min + min.mul_f64(rand::rng().random_range(0.0..1.0))
        }
    };
    let (tx, out) = mpsc::channel::<std::result::Result<Bytes, std::io::Error>>(256);
    let mut drops = sim.faults.watch_drops();
    drops.mark_unchanged();
    let interval = sim.config.bookmark_interval;
    let store_rt = route.served();
    let clock = sim.clock.clone();
    tokio::spawn(async move {
        let mut rx: broadcast::Receiver<Arc<Change>> = rx;
        for b in first {
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = drops.changed() => {
                    let _ = tx.send(Err(std::io::Error::other("watch dropped by fault injection"))).await;
                    return;
                }
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(Ok(bookmark(store_rt, progress, false))).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
                msg = rx.recv() => match msg {
                    Ok(change) => {
                        if change.rv <= progress {
                            continue;
                        }
                        progress = change.rv;
                        if let Some((kind, obj)) = filter.translate(&change) {
                            if tx.send(Ok(event_line(kind, &obj, store_rt, table, clock.now()))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let status = ApiError::expired(format!("too old resource version: {progress}")).to_status();
                        let _ = tx.send(Ok(line("ERROR", &status))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures::stream::unfold(out, |mut out| async move {
        out.recv().await.map(|item| (item, out))
    });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
