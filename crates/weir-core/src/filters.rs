//! The filter language of Prefect's `POST /<resource>/filter` and `/count` endpoints, and its
//! translation into a backend-neutral [`Predicate`] over named columns that the storage crate renders
//! as SQL. Unknown keys are refused (as Prefect does), so a typo in a filter is a 422 naming the key,
//! not a silently ignored condition.

use crate::state::StateType;
use crate::time::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A value bound into a predicate.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
}

/// A condition over a table's columns, independent of the SQL dialect.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    /// Always true.
    True,
    /// Always false (e.g. `any_: []`).
    False,
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    /// `column IN (values)`.
    In(&'static str, Vec<SqlValue>),
    IsNull(&'static str),
    /// `column <op> value` with op one of `<`, `<=`, `>`, `>=`, `=`.
    Compare(&'static str, &'static str, SqlValue),
    /// Case-insensitive substring match.
    Contains(&'static str, String),
    /// Case-sensitive prefix match.
    StartsWith(&'static str, String),
    /// The `|`-delimited tag column holds this tag.
    HasTag(&'static str, String),
    /// `column IN (SELECT key FROM table WHERE predicate)`.
    InSubquery {
        column: &'static str,
        table: &'static str,
        key: &'static str,
        predicate: Box<Predicate>,
    },
}

impl Predicate {
    fn all(parts: Vec<Predicate>) -> Predicate {
        let parts: Vec<_> = parts
            .into_iter()
            .filter(|p| *p != Predicate::True)
            .collect();
        match parts.len() {
            0 => Predicate::True,
            1 => parts.into_iter().next().unwrap_or(Predicate::True),
            _ => Predicate::And(parts),
        }
    }

    pub(crate) fn combine(operator: Operator, parts: Vec<Predicate>) -> Predicate {
        match operator {
            Operator::And => Predicate::all(parts),
            Operator::Or => {
                let parts: Vec<_> = parts
                    .into_iter()
                    .filter(|p| *p != Predicate::True)
                    .collect();
                if parts.is_empty() {
                    Predicate::True
                } else {
                    Predicate::Or(parts)
                }
            }
        }
    }
}

/// How the sub-filters of one filter combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub enum Operator {
    #[default]
    #[serde(rename = "and_")]
    And,
    #[serde(rename = "or_")]
    Or,
}

fn uuid_values(ids: &[Uuid]) -> Vec<SqlValue> {
    ids.iter()
        .map(|id| SqlValue::Text(id.to_string()))
        .collect()
}

fn text_values(values: &[String]) -> Vec<SqlValue> {
    values.iter().map(|v| SqlValue::Text(v.clone())).collect()
}

fn in_list(column: &'static str, values: Vec<SqlValue>) -> Predicate {
    if values.is_empty() {
        Predicate::False
    } else {
        Predicate::In(column, values)
    }
}

fn null_check(column: &'static str, is_null: Option<bool>) -> Predicate {
    match is_null {
        Some(true) => Predicate::IsNull(column),
        Some(false) => Predicate::Not(Box::new(Predicate::IsNull(column))),
        None => Predicate::True,
    }
}

/// Matches ids: `any_`, `not_any_`, `is_null_`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdFilter {
    pub any_: Option<Vec<Uuid>>,
    pub not_any_: Option<Vec<Uuid>>,
    pub is_null_: Option<bool>,
    /// Prefect's parent-flow-run filter carries its own operator; it is accepted and ignored.
    pub operator: Option<Operator>,
}

impl IdFilter {
    fn predicate(&self, column: &'static str) -> Predicate {
        let mut parts = vec![null_check(column, self.is_null_)];
        if let Some(ids) = &self.any_ {
            parts.push(in_list(column, uuid_values(ids)));
        }
        if let Some(ids) = &self.not_any_ {
            if !ids.is_empty() {
                parts.push(Predicate::Not(Box::new(Predicate::In(
                    column,
                    uuid_values(ids),
                ))));
            }
        }
        Predicate::all(parts)
    }
}

/// Matches text: `any_`, `not_any_`, `like_` (case-insensitive substring), `startswith_`, `is_null_`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextFilter {
    pub any_: Option<Vec<String>>,
    pub not_any_: Option<Vec<String>>,
    pub like_: Option<String>,
    pub startswith_: Option<String>,
    pub is_null_: Option<bool>,
}

impl TextFilter {
    fn predicate(&self, column: &'static str) -> Predicate {
        let mut parts = vec![null_check(column, self.is_null_)];
        if let Some(values) = &self.any_ {
            parts.push(in_list(column, text_values(values)));
        }
        if let Some(values) = &self.not_any_ {
            if !values.is_empty() {
                parts.push(Predicate::Not(Box::new(Predicate::In(
                    column,
                    text_values(values),
                ))));
            }
        }
        if let Some(like) = &self.like_ {
            parts.push(Predicate::Contains(column, like.clone()));
        }
        if let Some(prefix) = &self.startswith_ {
            parts.push(Predicate::StartsWith(column, prefix.clone()));
        }
        Predicate::all(parts)
    }
}

/// Matches tags: `all_` (has every tag), `any_` (has one of them), `is_null_` (has none).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsFilter {
    pub all_: Option<Vec<String>>,
    pub any_: Option<Vec<String>>,
    pub is_null_: Option<bool>,
    pub operator: Option<Operator>,
}

impl TagsFilter {
    fn predicate(&self, column: &'static str) -> Predicate {
        let mut parts = Vec::new();
        match self.is_null_ {
            Some(true) => parts.push(Predicate::Compare(column, "=", SqlValue::Text("|".into()))),
            Some(false) => parts.push(Predicate::Compare(column, ">", SqlValue::Text("|".into()))),
            None => {}
        }
        if let Some(tags) = &self.all_ {
            parts.extend(tags.iter().map(|t| Predicate::HasTag(column, t.clone())));
        }
        if let Some(tags) = &self.any_ {
            parts.push(Predicate::combine(
                Operator::Or,
                tags.iter()
                    .map(|t| Predicate::HasTag(column, t.clone()))
                    .collect(),
            ));
            if tags.is_empty() {
                parts.push(Predicate::False);
            }
        }
        Predicate::all(parts)
    }
}

/// Matches a time column: `before_`, `after_` (both inclusive), `is_null_`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeFilter {
    pub before_: Option<Timestamp>,
    pub after_: Option<Timestamp>,
    pub is_null_: Option<bool>,
}

impl TimeFilter {
    fn predicate(&self, column: &'static str) -> Predicate {
        let mut parts = vec![null_check(column, self.is_null_)];
        if let Some(t) = self.before_ {
            parts.push(Predicate::Compare(
                column,
                "<=",
                SqlValue::Text(t.to_canonical()),
            ));
        }
        if let Some(t) = self.after_ {
            parts.push(Predicate::Compare(
                column,
                ">=",
                SqlValue::Text(t.to_canonical()),
            ));
        }
        Predicate::all(parts)
    }
}

/// Matches state types: `any_`, `not_any_`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateTypeFilter {
    pub any_: Option<Vec<StateType>>,
    pub not_any_: Option<Vec<StateType>>,
}

/// Matches a run's current state by type and name.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateFilter {
    #[serde(rename = "type")]
    pub state_type: Option<StateTypeFilter>,
    pub name: Option<TextFilter>,
    #[serde(default)]
    pub operator: Operator,
}

impl StateFilter {
    fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        if let Some(types) = &self.state_type {
            let names = |ts: &[StateType]| {
                ts.iter()
                    .map(|t| SqlValue::Text(t.as_str().into()))
                    .collect()
            };
            if let Some(any) = &types.any_ {
                parts.push(in_list("state_type", names(any)));
            }
            if let Some(not_any) = &types.not_any_ {
                if !not_any.is_empty() {
                    parts.push(Predicate::Not(Box::new(Predicate::In(
                        "state_type",
                        names(not_any),
                    ))));
                }
            }
        }
        if let Some(name) = &self.name {
            parts.push(name.predicate("state_name"));
        }
        Predicate::combine(self.operator, parts)
    }
}

/// Filter on flows.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowFilter {
    #[serde(default)]
    pub operator: Operator,
    pub id: Option<IdFilter>,
    pub name: Option<TextFilter>,
    pub tags: Option<TagsFilter>,
    /// Prefect's `deployment: {is_null_}` (flows with or without deployments).
    #[schema(value_type = Option<Object>)]
    pub deployment: Option<serde_json::Value>,
}

impl FlowFilter {
    /// The predicate over the `flow` table.
    pub fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        if let Some(f) = &self.id {
            parts.push(f.predicate("id"));
        }
        if let Some(f) = &self.name {
            parts.push(f.predicate("name"));
        }
        if let Some(f) = &self.tags {
            parts.push(f.predicate("tags"));
        }
        Predicate::combine(self.operator, parts)
    }
}

/// Filter on flow runs.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowRunFilter {
    #[serde(default)]
    pub operator: Operator,
    pub id: Option<IdFilter>,
    pub name: Option<TextFilter>,
    pub tags: Option<TagsFilter>,
    pub deployment_id: Option<IdFilter>,
    pub work_queue_name: Option<TextFilter>,
    pub state: Option<StateFilter>,
    pub flow_version: Option<TextFilter>,
    pub start_time: Option<TimeFilter>,
    pub end_time: Option<TimeFilter>,
    pub expected_start_time: Option<TimeFilter>,
    pub next_scheduled_start_time: Option<TimeFilter>,
    pub parent_flow_run_id: Option<IdFilter>,
    pub parent_task_run_id: Option<IdFilter>,
    pub idempotency_key: Option<TextFilter>,
    #[schema(value_type = Option<Object>)]
    pub created_by: Option<serde_json::Value>,
}

impl FlowRunFilter {
    /// The predicate over the `flow_run` table.
    pub fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        let ids = [
            (&self.id, "id"),
            (&self.deployment_id, "deployment_id"),
            (&self.parent_task_run_id, "parent_task_run_id"),
        ];
        for (filter, column) in ids {
            if let Some(f) = filter {
                parts.push(f.predicate(column));
            }
        }
        if let Some(parent) = &self.parent_flow_run_id {
            parts.push(Predicate::InSubquery {
                column: "parent_task_run_id",
                table: "task_run",
                key: "id",
                predicate: Box::new(parent.predicate("flow_run_id")),
            });
        }
        let texts = [
            (&self.name, "name"),
            (&self.work_queue_name, "work_queue_name"),
            (&self.flow_version, "flow_version"),
            (&self.idempotency_key, "idempotency_key"),
        ];
        for (filter, column) in texts {
            if let Some(f) = filter {
                parts.push(f.predicate(column));
            }
        }
        if let Some(f) = &self.tags {
            parts.push(f.predicate("tags"));
        }
        if let Some(f) = &self.state {
            parts.push(f.predicate());
        }
        let times = [
            (&self.start_time, "start_time"),
            (&self.end_time, "end_time"),
            (&self.expected_start_time, "expected_start_time"),
            (&self.next_scheduled_start_time, "next_scheduled_start_time"),
        ];
        for (filter, column) in times {
            if let Some(f) = filter {
                parts.push(f.predicate(column));
            }
        }
        Predicate::combine(self.operator, parts)
    }
}

/// `subflow_runs: {exists_}`: task runs that did (or did not) start a subflow.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubflowRunsFilter {
    pub exists_: Option<bool>,
}

/// Filter on task runs.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRunFilter {
    #[serde(default)]
    pub operator: Operator,
    pub id: Option<IdFilter>,
    pub name: Option<TextFilter>,
    pub tags: Option<TagsFilter>,
    pub state: Option<StateFilter>,
    pub start_time: Option<TimeFilter>,
    pub end_time: Option<TimeFilter>,
    pub expected_start_time: Option<TimeFilter>,
    pub subflow_runs: Option<SubflowRunsFilter>,
    pub flow_run_id: Option<IdFilter>,
}

impl TaskRunFilter {
    /// The predicate over the `task_run` table.
    pub fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        if let Some(f) = &self.id {
            parts.push(f.predicate("id"));
        }
        if let Some(f) = &self.flow_run_id {
            parts.push(f.predicate("flow_run_id"));
        }
        if let Some(f) = &self.name {
            parts.push(f.predicate("name"));
        }
        if let Some(f) = &self.tags {
            parts.push(f.predicate("tags"));
        }
        if let Some(f) = &self.state {
            parts.push(f.predicate());
        }
        let times = [
            (&self.start_time, "start_time"),
            (&self.end_time, "end_time"),
            (&self.expected_start_time, "expected_start_time"),
        ];
        for (filter, column) in times {
            if let Some(f) = filter {
                parts.push(f.predicate(column));
            }
        }
        if let Some(SubflowRunsFilter {
            exists_: Some(exists),
        }) = &self.subflow_runs
        {
            let subquery = Predicate::InSubquery {
                column: "id",
                table: "flow_run",
                key: "parent_task_run_id",
                predicate: Box::new(Predicate::True),
            };
            parts.push(if *exists {
                subquery
            } else {
                Predicate::Not(Box::new(subquery))
            });
        }
        Predicate::combine(self.operator, parts)
    }
}

/// `level: {ge_, le_}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelFilter {
    pub ge_: Option<i64>,
    pub le_: Option<i64>,
}

/// `text: {query}`: a case-insensitive substring of the message.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogTextFilter {
    pub query: String,
}

/// Filter on logs.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogFilter {
    #[serde(default)]
    pub operator: Operator,
    pub level: Option<LevelFilter>,
    pub timestamp: Option<TimeFilter>,
    pub flow_run_id: Option<IdFilter>,
    pub task_run_id: Option<IdFilter>,
    pub text: Option<LogTextFilter>,
}

impl LogFilter {
    /// The predicate over the `log` table.
    pub fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        if let Some(level) = &self.level {
            if let Some(ge) = level.ge_ {
                parts.push(Predicate::Compare("level", ">=", SqlValue::Int(ge)));
            }
            if let Some(le) = level.le_ {
                parts.push(Predicate::Compare("level", "<=", SqlValue::Int(le)));
            }
        }
        if let Some(f) = &self.timestamp {
            parts.push(f.predicate("timestamp"));
        }
        if let Some(f) = &self.flow_run_id {
            parts.push(f.predicate("flow_run_id"));
        }
        if let Some(f) = &self.task_run_id {
            parts.push(f.predicate("task_run_id"));
        }
        if let Some(text) = &self.text {
            parts.push(Predicate::Contains("message", text.query.clone()));
        }
        Predicate::combine(self.operator, parts)
    }
}

/// Sort orders accepted by the filter endpoints, mapped to `ORDER BY` columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Sort {
    IdDesc,
    CreatedDesc,
    UpdatedDesc,
    NameAsc,
    NameDesc,
    StartTimeAsc,
    StartTimeDesc,
    EndTimeDesc,
    ExpectedStartTimeAsc,
    ExpectedStartTimeDesc,
    NextScheduledStartTimeAsc,
    TimestampAsc,
    TimestampDesc,
    LevelAsc,
    LevelDesc,
}

impl Sort {
    /// The `ORDER BY` clause body for this sort.
    pub fn order_by(self) -> &'static str {
        match self {
            Sort::IdDesc => "id DESC",
            Sort::CreatedDesc => "created DESC, id",
            Sort::UpdatedDesc => "updated DESC, id",
            Sort::NameAsc => "name ASC, id",
            Sort::NameDesc => "name DESC, id",
            Sort::StartTimeAsc => "start_time ASC, id",
            Sort::StartTimeDesc => "start_time DESC, id",
            Sort::EndTimeDesc => "end_time DESC, id",
            Sort::ExpectedStartTimeAsc => "expected_start_time ASC, id",
            Sort::ExpectedStartTimeDesc => "expected_start_time DESC, id",
            Sort::NextScheduledStartTimeAsc => "next_scheduled_start_time ASC, id",
            Sort::TimestampAsc => "timestamp ASC, id",
            Sort::TimestampDesc => "timestamp DESC, id",
            Sort::LevelAsc => "level ASC, timestamp",
            Sort::LevelDesc => "level DESC, timestamp",
        }
    }
}

/// The body of `POST /flows/filter`, `/flow_runs/filter`, `/task_runs/filter` and their `/count`
/// twins: a filter per resource, a sort, and a page.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunFilterBody {
    pub flows: Option<FlowFilter>,
    pub flow_runs: Option<FlowRunFilter>,
    pub task_runs: Option<TaskRunFilter>,
    pub deployments: Option<DeploymentRefFilter>,
    pub work_pools: Option<WorkPoolRefFilter>,
    #[schema(value_type = Option<Object>)]
    pub work_pool_queues: Option<serde_json::Value>,
    /// Sent by Prefect's CLI (`flow-run ls`); accepted, not applied yet.
    #[schema(value_type = Option<Object>)]
    pub work_queues: Option<serde_json::Value>,
    pub sort: Option<Sort>,
    pub limit: Option<i64>,
    #[serde(default)]
    pub offset: Option<i64>,
}

/// The body of `POST /logs/filter`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogFilterBody {
    pub logs: Option<LogFilter>,
    pub sort: Option<Sort>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Which table a predicate of a [`RunFilterBody`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Flow,
    FlowRun,
    TaskRun,
}

/// The `deployments` section of a run filter: runs (and flows) of matching deployments. Only `id`
/// and `name` are applied; Prefect's other deployment fields are accepted and ignored.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct DeploymentRefFilter {
    pub id: Option<IdFilter>,
    pub name: Option<TextFilter>,
}

impl DeploymentRefFilter {
    fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        parts.extend(self.id.as_ref().map(|f| f.predicate("id")));
        parts.extend(self.name.as_ref().map(|f| f.predicate("name")));
        Predicate::all(parts)
    }
}

/// The `work_pools` section of a run filter: runs sent to matching pools. Only `id` and `name` are
/// applied; other fields are accepted and ignored.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct WorkPoolRefFilter {
    pub id: Option<IdFilter>,
    pub name: Option<TextFilter>,
}

impl WorkPoolRefFilter {
    fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        parts.extend(self.id.as_ref().map(|f| f.predicate("id")));
        parts.extend(self.name.as_ref().map(|f| f.predicate("name")));
        Predicate::all(parts)
    }
}

impl RunFilterBody {
    /// The combined predicate over `target`'s table, with the other resources' filters joined in
    /// through sub-queries (flow runs of matching flows, flows with matching runs, and so on).
    pub fn predicate_for(&self, target: Target) -> Predicate {
        let flows = self.flows.as_ref().map(FlowFilter::predicate);
        let flow_runs = self.flow_runs.as_ref().map(FlowRunFilter::predicate);
        let task_runs = self.task_runs.as_ref().map(TaskRunFilter::predicate);
        let sub = |column, table, key, predicate: Predicate| Predicate::InSubquery {
            column,
            table,
            key,
            predicate: Box::new(predicate),
        };
        // Runs of matching deployments and pools, as predicates over `flow_run`.
        let mut run_parts = Vec::new();
        if let Some(deployments) = &self.deployments {
            run_parts.push(sub(
                "deployment_id",
                "deployment",
                "id",
                deployments.predicate(),
            ));
        }
        if let Some(pools) = &self.work_pools {
            run_parts.push(sub("work_pool_id", "work_pool", "id", pools.predicate()));
        }
        // Flows are matched to deployments directly (flows that have them), runs through their ids.
        let flows_of_deployments = self
            .deployments
            .as_ref()
            .map(|d| sub("id", "deployment", "flow_id", d.predicate()));
        let plain_flow_runs = flow_runs.clone();
        let flow_runs = match (flow_runs, run_parts.is_empty()) {
            (runs, true) => runs,
            (runs, false) => {
                run_parts.extend(runs);
                Some(Predicate::all(run_parts))
            }
        };
        let mut parts = Vec::new();
        match target {
            Target::Flow => {
                parts.extend(flows);
                parts.extend(flows_of_deployments);
                if let Some(p) = plain_flow_runs {
                    parts.push(sub("id", "flow_run", "flow_id", p));
                }
                if let Some(p) = task_runs {
                    let runs = sub("id", "task_run", "flow_run_id", p);
                    parts.push(sub("id", "flow_run", "flow_id", runs));
                }
            }
            Target::FlowRun => {
                parts.extend(flow_runs);
                if let Some(p) = flows {
                    parts.push(sub("flow_id", "flow", "id", p));
                }
                if let Some(p) = task_runs {
                    parts.push(sub("id", "task_run", "flow_run_id", p));
                }
            }
            Target::TaskRun => {
                parts.extend(task_runs);
                if let Some(p) = flow_runs {
                    parts.push(sub("flow_run_id", "flow_run", "id", p));
                }
                if let Some(p) = flows {
                    let runs = sub("flow_id", "flow", "id", p);
                    parts.push(sub("flow_run_id", "flow_run", "id", runs));
                }
            }
        }
        Predicate::all(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_filter_becomes_an_in_list() {
        let body: RunFilterBody = serde_json::from_value(serde_json::json!({
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED"]}}}
        }))
        .unwrap();
        assert_eq!(
            body.predicate_for(Target::FlowRun),
            Predicate::In(
                "state_type",
                vec![
                    SqlValue::Text("COMPLETED".into()),
                    SqlValue::Text("FAILED".into())
                ]
            )
        );
    }

    #[test]
    fn an_empty_any_list_matches_nothing() {
        let filter: FlowRunFilter =
            serde_json::from_value(serde_json::json!({"id": {"any_": []}})).unwrap();
        assert_eq!(filter.predicate(), Predicate::False);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = serde_json::from_value::<RunFilterBody>(serde_json::json!({
            "flow_runs": {"colour": {"any_": ["red"]}}
        }))
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn the_flow_filter_joins_into_flow_runs() {
        let body: RunFilterBody = serde_json::from_value(serde_json::json!({
            "flows": {"name": {"any_": ["etl"]}}
        }))
        .unwrap();
        assert!(matches!(
            body.predicate_for(Target::FlowRun),
            Predicate::InSubquery {
                column: "flow_id",
                table: "flow",
                ..
            }
        ));
    }
}
