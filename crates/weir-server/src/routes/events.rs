//! Events over REST (`POST /events`, `/events/filter`) and the two websockets Prefect clients use:
//! `/events/in` (the engine streams events, one JSON object per text frame) and `/events/out` (a
//! subscriber sends a filter and receives matching events as they happen).
//!
//! Both websockets speak Prefect's framing: subprotocol `prefect`, a first frame
//! `{"type": "auth", "token": ...}` answered by `{"type": "auth_success"}`, or a close with code 1008
//! (reason: why) when the token is wrong. The token may be an API key, the bootstrap key or the auth
//! string (see `auth`). An upgrade request carrying an `Authorization` header (as Prefect Cloud's
//! client sends, or a proxy adds) is checked before the upgrade, 401 when wrong; once it passes,
//! the frame's token is not checked. A client that offers no subprotocol is served in legacy mode
//! (no auth frame) only when auth is not required or its header passed.

use crate::auth::Denied;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashSet;
use tokio::sync::broadcast::error::RecvError;
use weir_core::events::{Event, EventFilter, EventFilterBody, EventPage};

/// Close code for a policy violation (bad or missing auth).
const POLICY_VIOLATION: u16 = 1008;
/// Close code for a server-side failure (the key could not be checked).
const INTERNAL_ERROR: u16 = 1011;
/// Events replayed to a new subscriber at most.
const MAX_REPLAY: usize = 1_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", post(create_events))
        .route("/events/filter", post(filter_events))
        .route("/events/in", any(events_in))
        .route("/events/out", any(events_out))
}

/// Ingests a list of events.
#[utoipa::path(post, path = "/api/events", tag = "Events", request_body = Vec<Event>,
    responses((status = 204), (status = 422)))]
pub(crate) async fn create_events(
    State(state): State<AppState>,
    ApiJson(events): ApiJson<Vec<Event>>,
) -> StatusCode {
    for event in events {
        if state.events.publish(event).await.is_err() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    StatusCode::NO_CONTENT
}

/// Stored events matching a filter (the last day when no `occurred.since` is given).
#[utoipa::path(post, path = "/api/events/filter", tag = "Events", request_body = EventFilterBody,
    responses((status = 200, body = EventPage)))]
pub(crate) async fn filter_events(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EventFilterBody>,
) -> ApiResult<Json<EventPage>> {
    let filter = body.filter.unwrap_or_default();
    let limit = body.limit.unwrap_or(50).clamp(0, 1_000) as usize;
    let (events, total) = state.store.filter_events(&filter, limit).await?;
    Ok(Json(EventPage {
        events,
        total,
        next_page: None,
    }))
}

async fn events_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let prefect_protocol = offers_prefect_protocol(&upgrade);
    let header_passed = match check_upgrade_header(&state, &headers).await {
        Ok(passed) => passed,
        Err(refusal) => return refusal,
    };
    upgrade
        .protocols(["prefect"])
        .on_upgrade(move |socket| async move {
            let accepted = accept(socket, &state, prefect_protocol, header_passed).await;
            let Some(mut socket) = accepted else {
                return;
            };
            while let Some(Ok(message)) = socket.recv().await {
                let text = match message {
                    Message::Text(text) => text,
                    Message::Close(_) => break,
                    _ => continue,
                };
                match serde_json::from_str::<Event>(&text) {
                    Ok(event) => {
                        if state.events.publish(event).await.is_err() {
                            break;
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "ignoring a malformed event frame"),
                }
            }
        })
}

async fn events_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let prefect_protocol = offers_prefect_protocol(&upgrade);
    let header_passed = match check_upgrade_header(&state, &headers).await {
        Ok(passed) => passed,
        Err(refusal) => return refusal,
    };
    upgrade
        .protocols(["prefect"])
        .on_upgrade(move |socket| async move {
            let accepted = accept(socket, &state, prefect_protocol, header_passed).await;
            let Some(socket) = accepted else {
                return;
            };
            stream_events(socket, state).await;
        })
}

/// Sends the subscriber the stored events that match its filter, then every new match.
async fn stream_events(mut socket: WebSocket, state: AppState) {
    let filter = loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => {
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if frame.get("type").and_then(Value::as_str) != Some("filter") {
                    continue;
                }
                match serde_json::from_value::<EventFilter>(frame["filter"].clone()) {
                    Ok(filter) => break filter,
                    Err(err) => {
                        close(socket, 1003, &format!("invalid filter: {err}")).await;
                        return;
                    }
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            Some(Ok(_)) => continue,
        }
    };
    // Subscribe before reading the backlog so nothing falls between the two; dedupe by id.
    let mut live = state.events.subscribe();
    let mut sent = HashSet::new();
    if filter.occurred.as_ref().and_then(|o| o.since).is_some() {
        let mut replay = filter.clone();
        replay.order = weir_core::events::EventOrder::Asc;
        if let Ok((backlog, _)) = state.store.filter_events(&replay, MAX_REPLAY).await {
            for event in backlog {
                sent.insert(event.id);
                if send_event(&mut socket, &event).await.is_err() {
                    return;
                }
            }
        }
    }
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(event) => {
                    if filter.matches(&event) && !sent.contains(&event.id)
                        && send_event(&mut socket, &event).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "an /events/out subscriber fell behind");
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn send_event(socket: &mut WebSocket, event: &Event) -> Result<(), axum::Error> {
    let frame = json!({ "type": "event", "event": event }).to_string();
    socket.send(Message::Text(Utf8Bytes::from(frame))).await
}

fn offers_prefect_protocol(upgrade: &WebSocketUpgrade) -> bool {
    upgrade
        .requested_protocols()
        .any(|p| p.to_str().is_ok_and(|p| p.trim() == "prefect"))
}

/// Checks an upgrade request's `Authorization` header, if it has one: `Ok(true)` when it passed
/// (the auth frame's token is then not checked), `Ok(false)` when there is none, else the 401.
async fn check_upgrade_header(state: &AppState, headers: &HeaderMap) -> Result<bool, Response> {
    if !state.auth.required() || !headers.contains_key(axum::http::header::AUTHORIZATION) {
        return Ok(false);
    }
    match state.auth.check_headers(&state.store, headers).await {
        Ok(()) => Ok(true),
        Err(denied) => Err(ApiError::from(denied).into_response()),
    }
}

/// Runs the auth handshake. Returns the socket when the client may go on.
async fn accept(
    mut socket: WebSocket,
    state: &AppState,
    prefect_protocol: bool,
    header_passed: bool,
) -> Option<WebSocket> {
    let token_needed = state.auth.required() && !header_passed;
    if !prefect_protocol {
        if token_needed {
            close(
                socket,
                POLICY_VIOLATION,
                "auth required: use the `prefect` subprotocol",
            )
            .await;
            return None;
        }
        return Some(socket);
    }
    let token = loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if frame.get("type").and_then(Value::as_str) != Some("auth") {
                    close(socket, POLICY_VIOLATION, "expected an auth frame").await;
                    return None;
                }
                break frame
                    .get("token")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return None,
        }
    };
    if token_needed {
        if let Err(denied) = state
            .auth
            .check_secret(&state.store, token.as_deref())
            .await
        {
            let code = if denied == Denied::Unavailable {
                INTERNAL_ERROR
            } else {
                POLICY_VIOLATION
            };
            close(socket, code, denied.message()).await;
            return None;
        }
    }
    let ack = Message::Text(Utf8Bytes::from(json!({"type": "auth_success"}).to_string()));
    socket.send(ack).await.ok()?;
    Some(socket)
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_owned()),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
