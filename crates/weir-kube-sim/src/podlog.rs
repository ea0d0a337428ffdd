//! `GET pods/{name}/log`: container logs, whole or followed.
//!
//! Mirrors the apiserver's answers: 400 when the container name is ambiguous or the container is
//! still waiting, 404 for a missing pod; `follow` streams until the container terminates or the pod
//! goes away (or `Faults::drop_watches` cuts it); `tailLines`, `sinceSeconds`, `sinceTime`, `limitBytes` and `timestamps` filter the text.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::mpsc;

use crate::api::Params;
use crate::error::{ApiError, Result};
use crate::meta;
use crate::resources::known;
use crate::sim::Shared;

fn render(at: DateTime<Utc>, text: &str, timestamps: bool) -> String {
    if timestamps {
        format!(
            "{} {text}\n",
            at.to_rfc3339_opts(SecondsFormat::Nanos, true)
        )
    } else {
        format!("{text}\n")
    }
}

pub(crate) fn serve(sim: &Arc<Shared>, ns: &str, name: &str, params: &Params) -> Result<Response> {
    let pod = sim
        .store
        .get(known::pods(), ns, name)
        .ok_or_else(|| ApiError::not_found(known::pods(), name))?;
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| meta::str_at(c, "name").to_string())
                .collect()
        })
        .unwrap_or_default();
    let container = match params.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !containers.contains(c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )))
        }
    };
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|s| s.iter().find(|c| meta::str_at(c, "name") == container))
        .cloned();
    let waiting = match &status {
        None => Some("ContainerCreating".to_string()),
        Some(s) => s["state"].get("waiting").map(|w| {
            let r = meta::str_at(w, "reason");
            if r.is_empty() {
                "ContainerCreating".to_string()
            } else {
                r.to_string()
            }
        }),
    };
    let uid = meta::uid(&pod).to_string();
    let restarted = status
        .as_ref()
        .is_some_and(|s| s["restartCount"].as_i64().unwrap_or(0) > 0);
    if let (Some(reason), false) = (waiting, restarted) {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let buf = sim.logs.buf(&uid, &container);
    let timestamps = params.get("timestamps").is_some_and(|t| t == "true");
    let now = sim.clock.now();
    let since = params
        .get("sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| now - chrono::Duration::seconds(s))
        .or_else(|| params.get("sinceTime").and_then(|t| meta::parse_time(t)));
    let tail = params
        .get("tailLines")
        .and_then(|t| t.parse::<usize>().ok());
    let limit = params
        .get("limitBytes")
        .and_then(|t| t.parse::<usize>().ok());
    let previous = params.get("previous").is_some_and(|p| p == "true");
    let (lines, done, mut start) = if previous {
        let lines = buf.previous().ok_or_else(|| {
            ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            ))
        })?;
        (lines, true, 0)
    } else {
        let start = buf.current_start();
        let (lines, done) = buf.read_from(start);
        (lines, done, start)
    };
    let mut kept: Vec<String> = Vec::new();
    for (at, text) in &lines {
        start += 1;
        if since.is_none_or(|s| *at >= s) {
            kept.push(render(*at, text, timestamps));
        }
    }
    if let Some(t) = tail {
        let skip = kept.len().saturating_sub(t);
        kept.drain(..skip);
    }
    let follow = params.get("follow").is_some_and(|f| f == "true");
    let mut text: String = kept.concat();
    if let Some(l) = limit {
        if text.len() > l {
            let mut cut = l;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
    }
    let headers = [(http::header::CONTENT_TYPE, "text/plain")];
    if !follow || done {
        return Ok((headers, text).into_response());
    }
    let (tx, out) = mpsc::channel::<std::result::Result<Bytes, std::io::Error>>(64);
    let sim = sim.clone();
    let (ns, name) = (ns.to_string(), name.to_string());
    let mut drops = sim.faults.watch_drops();
    drops.mark_unchanged();
    tokio::spawn(async move {
        let mut sent = text.len();
        if !text.is_empty() && tx.send(Ok(Bytes::from(text))).await.is_err() {
            return;
        }
        let mut changes = buf.subscribe();
        let mut index = start;
        loop {
            let (new, done) = buf.read_from(index);
            index += new.len();
            for (at, line) in new {
                let chunk = render(at, &line, timestamps);
                sent += chunk.len();
                if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                    return;
                }
                if limit.is_some_and(|l| sent >= l) {
                    return;
                }
            }
            if done {
                return;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    let alive = sim.store.get(known::pods(), &ns, &name).is_some_and(|p| meta::uid(&p) == uid);
                    if !alive {
                        return;
                    }
                }
                _ = tx.closed() => return,
                _ = drops.changed() => {
                    let _ = tx.send(Err(std::io::Error::other("log stream dropped by fault injection"))).await;
                    return;
                }
            }
        }
    });
    let stream = futures::stream::unfold(out, |mut out| async move {
        out.recv().await.map(|item| (item, out))
    });
    Ok((headers, Body::from_stream(stream)).into_response())
}
