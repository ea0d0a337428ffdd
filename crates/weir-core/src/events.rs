//! Prefect events: the shape clients send over `/api/events/in`, the filter of `/events/filter` and
//! `/events/out`, and the events the server itself emits when a flow run changes state.

use crate::schemas::FlowRun;
use crate::state::State;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// A resource's labels; `prefect.resource.id` identifies it.
pub type Resource = BTreeMap<String, String>;

/// One event, as sent by clients and returned by the server (`received` is set by the server).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub occurred: Timestamp,
    pub event: String,
    #[schema(value_type = Object)]
    pub resource: Resource,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub related: Vec<Resource>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Map<String, Value>,
    pub id: Uuid,
    #[serde(default)]
    pub follows: Option<Uuid>,
    #[serde(default)]
    pub received: Option<Timestamp>,
}

impl Event {
    /// The `prefect.resource.id` of the event's resource.
    pub fn resource_id(&self) -> &str {
        self.resource
            .get("prefect.resource.id")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The id of the related resource with the given role (e.g. `flow-run`), parsed from its
    /// `prefect.<kind>.<uuid>` resource id.
    pub fn related_id(&self, role: &str) -> Option<Uuid> {
        self.related
            .iter()
            .find(|r| r.get("prefect.resource.role").map(String::as_str) == Some(role))
            .and_then(|r| r.get("prefect.resource.id"))
            .and_then(|id| id.rsplit_once('.'))
            .and_then(|(_, uuid)| uuid.parse().ok())
    }
}

/// `occurred: {since, until}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct EventOccurredFilter {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// `event: {prefix, exclude_prefix, name, exclude_name}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct EventNameFilter {
    pub prefix: Option<Vec<String>>,
    pub exclude_prefix: Option<Vec<String>>,
    pub name: Option<Vec<String>>,
    pub exclude_name: Option<Vec<String>>,
}

/// `resource` / `any_resource`: `id`, `id_prefix`, and `labels` (each label a list of allowed values).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct EventResourceFilter {
    pub id: Option<Vec<String>>,
    pub id_prefix: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub labels: Option<BTreeMap<String, Value>>,
}

impl EventResourceFilter {
    fn matches(&self, resource: &Resource) -> bool {
        let id = resource
            .get("prefect.resource.id")
            .map(String::as_str)
            .unwrap_or("");
        if let Some(ids) = &self.id {
            if !ids.is_empty() && !ids.iter().any(|i| i == id) {
                return false;
            }
        }
        if let Some(prefixes) = &self.id_prefix {
            if !prefixes.is_empty() && !prefixes.iter().any(|p| id.starts_with(p.as_str())) {
                return false;
            }
        }
        if let Some(labels) = &self.labels {
            for (key, wanted) in labels {
                let value = resource.get(key).map(String::as_str);
                let allowed: Vec<&str> = match wanted {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    _ => continue,
                };
                if !allowed.is_empty() && !value.is_some_and(|v| allowed.contains(&v)) {
                    return false;
                }
            }
        }
        true
    }
}

/// `id: {id: [...]}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct EventIdFilter {
    pub id: Option<Vec<Uuid>>,
}

/// Result order of `/events/filter`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub enum EventOrder {
    #[serde(rename = "ASC")]
    Asc,
    #[default]
    #[serde(rename = "DESC")]
    Desc,
}

/// Prefect's `EventFilter`. Keys the client sends as `null` (`text`, ...) are accepted and ignored
/// when Weir does not implement them.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct EventFilter {
    #[serde(default)]
    pub occurred: Option<EventOccurredFilter>,
    #[serde(default)]
    pub event: Option<EventNameFilter>,
    #[serde(default)]
    pub resource: Option<EventResourceFilter>,
    #[serde(default)]
    pub any_resource: Option<EventResourceFilter>,
    #[serde(default)]
    pub related: Option<EventResourceFilter>,
    #[serde(default)]
    pub id: Option<EventIdFilter>,
    #[serde(default)]
    pub order: EventOrder,
}

impl EventFilter {
    /// Whether `event` passes every condition of this filter.
    pub fn matches(&self, event: &Event) -> bool {
        if let Some(occurred) = &self.occurred {
            if occurred.since.is_some_and(|s| event.occurred < s)
                || occurred.until.is_some_and(|u| event.occurred > u)
            {
                return false;
            }
        }
        if let Some(names) = &self.event {
            let name = event.event.as_str();
            let any_prefix = |list: &Option<Vec<String>>| {
                list.as_ref()
                    .map(|l| l.iter().any(|p| name.starts_with(p.as_str())))
            };
            let any_name =
                |list: &Option<Vec<String>>| list.as_ref().map(|l| l.iter().any(|n| n == name));
            if any_prefix(&names.prefix) == Some(false)
                && names.prefix.as_ref().is_some_and(|l| !l.is_empty())
                || any_name(&names.name) == Some(false)
                    && names.name.as_ref().is_some_and(|l| !l.is_empty())
                || any_prefix(&names.exclude_prefix) == Some(true)
                || any_name(&names.exclude_name) == Some(true)
            {
                return false;
            }
        }
        if let Some(ids) = self.id.as_ref().and_then(|f| f.id.as_ref()) {
            if !ids.is_empty() && !ids.contains(&event.id) {
                return false;
            }
        }
        if let Some(resource) = &self.resource {
            if !resource.matches(&event.resource) {
                return false;
            }
        }
        if let Some(related) = &self.related {
            if !event.related.iter().any(|r| related.matches(r)) {
                return false;
            }
        }
        if let Some(any) = &self.any_resource {
            if !(any.matches(&event.resource) || event.related.iter().any(|r| any.matches(r))) {
                return false;
            }
        }
        true
    }
}

/// Body of `POST /events/filter`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct EventFilterBody {
    #[serde(default)]
    pub filter: Option<EventFilter>,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// A page of events returned by `/events/filter`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub total: i64,
    pub next_page: Option<String>,
}

pub(crate) fn resource(pairs: &[(&str, String)]) -> Resource {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The event a running flow run emits every few seconds (Prefect 3's runner heartbeat); the
/// server's zombies service crashes RUNNING runs whose heartbeats stop.
pub const FLOW_RUN_HEARTBEAT: &str = "prefect.flow-run.heartbeat";

/// A `prefect.flow-run.heartbeat` event for flow run `id` named `name`, occurring `now`, shaped as
/// Prefect's runner emits it (the run as resource, its flow as a related resource).
pub fn flow_run_heartbeat_event(
    id: Uuid,
    name: &str,
    flow_id: Uuid,
    flow_name: &str,
    now: Timestamp,
    event_id: Uuid,
) -> Event {
    Event {
        occurred: now,
        event: FLOW_RUN_HEARTBEAT.into(),
        resource: resource(&[
            ("prefect.resource.id", format!("prefect.flow-run.{id}")),
            ("prefect.resource.name", name.into()),
        ]),
        related: vec![resource(&[
            ("prefect.resource.id", format!("prefect.flow.{flow_id}")),
            ("prefect.resource.role", "flow".into()),
            ("prefect.resource.name", flow_name.into()),
        ])],
        payload: Map::new(),
        id: event_id,
        follows: None,
        received: None,
    }
}

/// The flow run a `prefect.flow-run.heartbeat` event is about, if it is one.
pub fn heartbeat_flow_run(event: &Event) -> Option<Uuid> {
    if event.event != FLOW_RUN_HEARTBEAT {
        return None;
    }
    event
        .resource_id()
        .strip_prefix("prefect.flow-run.")?
        .parse()
        .ok()
}

/// The `prefect.flow-run.<StateName>` event the server emits when it writes a flow-run state.
/// `follows` links it to the event of the previous state.
pub fn flow_run_state_event(
    run: &FlowRun,
    flow_name: Option<&str>,
    previous: Option<&State>,
    state: &State,
    follows: Option<Uuid>,
) -> Event {
    let mut related = vec![resource(&[
        (
            "prefect.resource.id",
            format!("prefect.flow.{}", run.flow_id),
        ),
        ("prefect.resource.role", "flow".into()),
        (
            "prefect.resource.name",
            flow_name.unwrap_or_default().into(),
        ),
    ])];
    if let Some(id) = run.deployment_id {
        related.push(resource(&[
            ("prefect.resource.id", format!("prefect.deployment.{id}")),
            ("prefect.resource.role", "deployment".into()),
        ]));
    }
    if let (Some(id), Some(name)) = (run.work_queue_id, &run.work_queue_name) {
        related.push(resource(&[
            ("prefect.resource.id", format!("prefect.work-queue.{id}")),
            ("prefect.resource.role", "work-queue".into()),
            ("prefect.resource.name", name.clone()),
        ]));
    }
    if let (Some(id), Some(name)) = (run.work_pool_id, &run.work_pool_name) {
        related.push(resource(&[
            ("prefect.resource.id", format!("prefect.work-pool.{id}")),
            ("prefect.resource.role", "work-pool".into()),
            ("prefect.resource.name", name.clone()),
        ]));
    }
    for tag in &run.tags {
        related.push(resource(&[
            ("prefect.resource.id", format!("prefect.tag.{tag}")),
            ("prefect.resource.role", "tag".into()),
        ]));
    }
    let brief = |s: &State| json!({"type": s.state_type, "name": s.display_name()});
    let mut payload = Map::new();
    payload.insert(
        "intended".into(),
        json!({"from": previous.map(|p| p.state_type), "to": state.state_type}),
    );
    payload.insert(
        "initial_state".into(),
        previous.map(brief).unwrap_or(Value::Null),
    );
    payload.insert("validated_state".into(), brief(state));
    Event {
        occurred: state.timestamp,
        event: format!("prefect.flow-run.{}", state.display_name()),
        resource: resource(&[
            (
                "prefect.resource.id",
                format!("prefect.flow-run.{}", run.id),
            ),
            ("prefect.resource.name", run.name.clone()),
            ("prefect.run-count", run.run_count.to_string()),
            (
                "prefect.state-message",
                state.message.clone().unwrap_or_default(),
            ),
            ("prefect.state-name", state.display_name().into()),
            ("prefect.state-timestamp", state.timestamp.to_canonical()),
            ("prefect.state-type", state.state_type.as_str().into()),
        ]),
        related,
        payload,
        id: Uuid::now_v7(),
        follows,
        received: Some(Timestamp::now()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> Event {
        serde_json::from_value(json!({
            "occurred": "2026-11-27T15:40:26.348390Z", "event": name,
            "resource": {"prefect.resource.id": "prefect.flow-run.475bbdc4-060b-4e8d-9cdf-43ec3703146e"},
            "related": [{"prefect.resource.id": "prefect.flow.8dc21bfd-f300-46d2-8f95-a77eab3d6c0f",
                         "prefect.resource.role": "flow"}],
            "id": "01a21daa-3f6c-7fe8-972f-5b1fd2d0de48"
        }))
        .unwrap()
    }

    #[test]
    fn the_cancelling_subscription_filter_matches_by_name() {
        let filter: EventFilter = serde_json::from_value(json!({
            "occurred": {"since": "2026-11-27T15:39:14.519877Z", "until": "2027-11-27T15:40:14.519877Z"},
            "event": {"prefix": null, "exclude_prefix": null, "name": ["prefect.flow-run.Cancelling"], "exclude_name": null},
            "resource": null, "related": null, "any_resource": null, "id": {"id": []}, "text": null, "order": "DESC"
        }))
        .unwrap();
        assert!(filter.matches(&event("prefect.flow-run.Cancelling")));
        assert!(!filter.matches(&event("prefect.flow-run.Running")));
    }

    #[test]
    fn related_ids_are_read_by_role() {
        let e = event("x");
        assert_eq!(
            e.related_id("flow").unwrap().to_string(),
            "8dc21bfd-f300-46d2-8f95-a77eab3d6c0f"
        );
        assert!(e.related_id("flow-run").is_none());
    }

    #[test]
    fn resource_prefix_and_labels_filter() {
        let filter: EventFilter = serde_json::from_value(json!({
            "any_resource": {"id_prefix": ["prefect.flow."]}
        }))
        .unwrap();
        assert!(filter.matches(&event("x")));
        let filter: EventFilter = serde_json::from_value(json!({
            "resource": {"labels": {"prefect.resource.id": ["nope"]}}
        }))
        .unwrap();
        assert!(!filter.matches(&event("x")));
    }
}
