//! Task runs: REST create/read/filter/`set_state`, and the task-run recorder's batched upsert from
//! `prefect.task-run.*` events (how the Prefect 3 engine reports task runs).

use crate::db::{bind_all, on_pool, opt_text, tags_column};
use crate::flow_runs::state_row;
use crate::writer::Statement;
use crate::{Error, Result, Store};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;
use weir_core::events::Event;
use weir_core::filters::{RunFilterBody, Sort, Target};
use weir_core::orchestration::bookkeeping::apply_state;
use weir_core::orchestration::task::{decide, releases_task_slots, TaskRunFacts};
use weir_core::schemas::{TaskRun, TaskRunCreate, TaskRunPolicy};
use weir_core::{State, StateCreate, StateType, Timestamp};

use crate::flow_runs::SetStateOutcome;

const MAX_STATE_RACES: usize = 8;

impl Store {
    /// Creates a task run. A run with the same flow run, task key and dynamic key is returned
    /// instead of a duplicate (flag `false`), as Prefect does.
    pub async fn create_task_run(&self, create: TaskRunCreate) -> Result<(TaskRun, bool)> {
        if let Some(flow_run_id) = create.flow_run_id {
            self.read_flow_run(flow_run_id).await.map_err(|e| match e {
                Error::NotFound { .. } => {
                    Error::Invalid(format!("flow_run_id: flow run {flow_run_id} not found"))
                }
                other => other,
            })?;
            let existing: Option<(String,)> = on_pool!(&self.db, pool => sqlx::query_as(
                "SELECT doc FROM task_run WHERE flow_run_id = $1 AND task_key = $2 AND dynamic_key = $3")
                .bind(flow_run_id.to_string()).bind(&create.task_key).bind(&create.dynamic_key)
                .fetch_optional(pool).await)?;
            if let Some((doc,)) = existing {
                return Ok((decode_task_run(&doc)?, false));
            }
        }
        let now = Timestamp::now();
        let id = create.id.unwrap_or_else(Uuid::new_v4);
        let mut run = TaskRun {
            id,
            created: now,
            updated: now,
            name: create
                .name
                .unwrap_or_else(|| format!("{}-{}", create.task_key, &create.dynamic_key)),
            flow_run_id: create.flow_run_id,
            task_key: create.task_key,
            dynamic_key: create.dynamic_key,
            cache_key: create.cache_key,
            cache_expiration: create.cache_expiration,
            task_version: create.task_version,
            empirical_policy: create.empirical_policy,
            tags: create.tags,
            labels: create.labels.unwrap_or_default(),
            state_id: None,
            task_inputs: create.task_inputs,
            state_type: None,
            state_name: None,
            run_count: 0,
            flow_run_run_count: 0,
            expected_start_time: None,
            next_scheduled_start_time: None,
            start_time: None,
            end_time: None,
            total_run_time: 0.0,
            estimated_run_time: 0.0,
            estimated_start_time_delta: 0.0,
            state: None,
        };
        let mut proposal = create
            .state
            .unwrap_or_else(|| StateCreate::of_type(StateType::Pending));
        proposal.state_details.task_run_id = Some(id);
        proposal.state_details.flow_run_id = run.flow_run_id;
        let state = apply_state(&mut run, State::from_proposal(proposal, now));
        let insert = Statement {
            sql: INSERT_TASK_RUN.into(),
            args: task_run_args(&run)?,
        };
        let inserted = self
            .writer
            .write(vec![insert, state_row(TASK_RUN_STATE, id, &state)?])
            .await?;
        if !inserted {
            return Err(Error::Conflict(format!("task run {id} already exists")));
        }
        Ok((run, true))
    }

    /// The task run with this id.
    pub async fn read_task_run(&self, id: Uuid) -> Result<TaskRun> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM task_run WHERE id = $1")
            .bind(id.to_string()).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(Error::NotFound { kind: "Task run" })?;
        decode_task_run(&doc)
    }

    /// Task runs matching a filter body.
    pub async fn filter_task_runs(&self, body: &RunFilterBody) -> Result<Vec<TaskRun>> {
        let mut sql = self.db.builder();
        sql.push("SELECT doc FROM task_run WHERE ")
            .predicate(&body.predicate_for(Target::TaskRun));
        sql.push(" ORDER BY ")
            .push(body.sort.unwrap_or(Sort::IdDesc).order_by());
        sql.page(body.limit, body.offset);
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_all(pool).await)?;
        rows.iter().map(|(doc,)| decode_task_run(doc)).collect()
    }

    /// How many task runs match a filter body.
    pub async fn count_task_runs(&self, body: &RunFilterBody) -> Result<i64> {
        self.count("task_run", body.predicate_for(Target::TaskRun))
            .await
    }

    /// A task run's state history, oldest first.
    pub async fn task_run_states(&self, task_run_id: Uuid) -> Result<Vec<State>> {
        self.run_states("task_run_state", "task_run_id", task_run_id)
            .await
    }

    /// Proposes a state for a task run through the task policy.
    pub async fn set_task_run_state(
        &self,
        id: Uuid,
        mut proposal: StateCreate,
        force: bool,
    ) -> Result<SetStateOutcome> {
        proposal.state_details.task_run_id = Some(id);
        for _ in 0..MAX_STATE_RACES {
            let mut run = self.read_task_run(id).await?;
            proposal.state_details.flow_run_id = run.flow_run_id;
            let flow_run_state = match run.flow_run_id {
                Some(flow_run_id) => self
                    .read_flow_run(flow_run_id)
                    .await
                    .ok()
                    .and_then(|r| r.state_type),
                None => None,
            };
            let previous = run.state.clone();
            let facts = TaskRunFacts {
                current: previous.as_ref(),
                run_count: run.run_count,
                policy: &run.empirical_policy,
                flow_run_state,
                jitter_sample: rand_sample(),
            };
            let now = Timestamp::now();
            let decision = decide(&facts, proposal.clone(), force, now);
            let Some(to_write) = decision.state_to_write().cloned() else {
                return Ok(SetStateOutcome {
                    result: decision.into_result(previous),
                    written: false,
                    event: None,
                });
            };
            // Tag concurrency: a run entering RUNNING takes a slot of each of its tags' limits
            // first, and gives them back should its state not be written after all.
            let enters_running = !force
                && to_write.state_type == StateType::Running
                && previous.as_ref().map(|s| s.state_type) != Some(StateType::Running)
                && !run.tags.is_empty();
            if enters_running {
                let slots = self.secure_task_slots(id, &run.tags).await?;
                if let Some(decision) = slots.into_decision() {
                    return Ok(SetStateOutcome {
                        result: decision.into_result(previous),
                        written: false,
                        event: None,
                    });
                }
            }
            let version = run.updated;
            let written = apply_state(&mut run, to_write);
            run.updated = Timestamp::now().max(version.plus_seconds(0.000_001));
            let mut args = task_run_args(&run)?;
            args.push(Some(version.to_canonical()));
            let update = Statement {
                sql: UPDATE_TASK_RUN.into(),
                args,
            };
            let swapped = self
                .writer
                .write(vec![update, state_row(TASK_RUN_STATE, id, &written)?])
                .await?;
            if !swapped {
                if enters_running {
                    self.release_task_slots(id, &run.tags).await?;
                }
                continue;
            }
            if releases_task_slots(written.state_type) && !run.tags.is_empty() {
                self.release_task_slots(id, &run.tags).await?;
            }
            return Ok(SetStateOutcome {
                result: decision.with_written(written).into_result(None),
                written: true,
                event: None,
            });
        }
        Err(Error::Conflict(
            "task run state changed concurrently; retry".into(),
        ))
    }

    /// Records a batch of `prefect.task-run.*` events: each event's validated state joins its task
    /// run's history (once, keyed by event id), and each task run takes the fields of its newest
    /// state, whatever order the events arrive in. Events that are not task-run state events are
    /// skipped. Returns how many states were recorded.
    pub async fn record_task_run_events(&self, events: &[Event]) -> Result<usize> {
        let mut newest: HashMap<Uuid, (TaskRun, State)> = HashMap::new();
        let mut states = Vec::new();
        for event in events {
            let Some((run, state)) = task_run_from_event(event) else {
                continue;
            };
            states.push((run.id, state.clone()));
            let replace = newest
                .get(&run.id)
                .is_none_or(|(_, s)| s.timestamp <= state.timestamp);
            if replace {
                newest.insert(run.id, (run, state));
            }
        }
        if states.is_empty() {
            return Ok(0);
        }
        // An upsert that finds a newer state stored changes no row; as a guard that would skip
        // what follows it, so every statement is its own write (all in the same batch).
        let mut writes = Vec::with_capacity(newest.len() + states.len());
        for (run, _) in newest.values() {
            writes.push(Statement {
                sql: UPSERT_TASK_RUN_IF_NEWER.into(),
                args: task_run_args(run)?,
            });
        }
        for (run_id, state) in &states {
            writes.push(state_row(TASK_RUN_STATE, *run_id, state)?);
        }
        let outcomes =
            futures::future::join_all(writes.into_iter().map(|w| self.writer.write(vec![w]))).await;
        for outcome in outcomes {
            outcome?;
        }
        Ok(states.len())
    }
}

/// A uniform sample in [-1, 1] that spreads retry delays by the jitter factor.
fn rand_sample() -> f64 {
    rand::random_range(-1.0..=1.0)
}

/// Builds the task run and state an event describes, or `None` for other events.
fn task_run_from_event(event: &Event) -> Option<(TaskRun, State)> {
    if !event.event.starts_with("prefect.task-run.") {
        return None;
    }
    let id: Uuid = event
        .resource_id()
        .strip_prefix("prefect.task-run.")?
        .parse()
        .ok()?;
    let payload = &event.payload;
    let validated = payload.get("validated_state")?;
    let mut state_create: StateCreate = serde_json::from_value(validated.clone()).ok()?;
    state_create.state_details.task_run_id = Some(id);
    let flow_run_id = event.related_id("flow-run");
    state_create.state_details.flow_run_id = flow_run_id;
    let mut state = State::from_proposal(state_create, event.occurred);
    state.id = event.id;
    let info = payload.get("task_run").cloned().unwrap_or(Value::Null);
    let text = |key: &str| info.get(key).and_then(Value::as_str).map(str::to_owned);
    let time = |key: &str| text(key).and_then(|t| t.parse::<Timestamp>().ok());
    let number = |key: &str| info.get(key).and_then(Value::as_f64);
    let object = |key: &str| {
        info.get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let state_type = state.state_type;
    let name = text("name")
        .or_else(|| event.resource.get("prefect.resource.name").cloned())
        .unwrap_or_else(|| id.to_string());
    let expected_start_time = time("expected_start_time").or(Some(event.occurred));
    let run = TaskRun {
        id,
        created: expected_start_time.unwrap_or(event.occurred),
        updated: event.occurred,
        name,
        flow_run_id,
        task_key: text("task_key").unwrap_or_default(),
        dynamic_key: text("dynamic_key").unwrap_or_default(),
        cache_key: text("cache_key"),
        cache_expiration: time("cache_expiration"),
        task_version: text("task_version"),
        empirical_policy: info
            .get("empirical_policy")
            .and_then(|p| serde_json::from_value::<TaskRunPolicy>(p.clone()).ok())
            .unwrap_or_default(),
        tags: info
            .get("tags")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default(),
        labels: object("labels"),
        state_id: Some(state.id),
        task_inputs: object("task_inputs"),
        state_type: Some(state_type),
        state_name: state.name.clone(),
        run_count: number("run_count").map(|n| n as i64).unwrap_or(0),
        flow_run_run_count: number("flow_run_run_count").map(|n| n as i64).unwrap_or(0),
        expected_start_time,
        next_scheduled_start_time: state
            .state_details
            .scheduled_time
            .filter(|_| state_type == StateType::Scheduled),
        start_time: time("start_time"),
        end_time: time("end_time").or_else(|| state_type.is_terminal().then_some(event.occurred)),
        total_run_time: number("total_run_time").unwrap_or(0.0),
        estimated_run_time: 0.0,
        estimated_start_time_delta: 0.0,
        state: Some(state.clone()),
    };
    Some((run, state))
}

fn decode_task_run(doc: &str) -> Result<TaskRun> {
    let mut run: TaskRun = serde_json::from_str(doc)?;
    run.refresh_estimates(Timestamp::now());
    Ok(run)
}

/// The 18 column values of a task run, in the order of the statements below.
fn task_run_args(run: &TaskRun) -> Result<Vec<Option<String>>> {
    Ok(vec![
        Some(run.id.to_string()),
        opt_text(run.flow_run_id),
        Some(run.name.clone()),
        Some(run.task_key.clone()),
        Some(run.dynamic_key.clone()),
        run.cache_key.clone(),
        opt_text(run.state_id),
        run.state_type.map(|t| t.as_str().to_owned()),
        run.state_name.clone(),
        run.state.as_ref().map(|s| s.timestamp.to_canonical()),
        Some(tags_column(&run.tags)),
        opt_text(run.start_time),
        opt_text(run.end_time),
        opt_text(run.expected_start_time),
        opt_text(run.next_scheduled_start_time),
        Some(run.created.to_canonical()),
        Some(run.updated.to_canonical()),
        Some(serde_json::to_string(run)?),
    ])
}

/// Task-run states are keyed by id (the recorder uses the event id), so redelivery is harmless.
const TASK_RUN_STATE: &str = "INSERT INTO task_run_state (id, task_run_id, timestamp, doc) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING";

const INSERT_TASK_RUN: &str = "INSERT INTO task_run (id, flow_run_id, name, task_key, \
    dynamic_key, cache_key, state_id, state_type, state_name, state_timestamp, tags, start_time, \
    end_time, expected_start_time, next_scheduled_start_time, created, updated, doc) VALUES ($1, $2, \
    $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
    ON CONFLICT (id) DO NOTHING";

const UPSERT_TASK_RUN_IF_NEWER: &str = "INSERT INTO task_run (id, flow_run_id, name, task_key, \
    dynamic_key, cache_key, state_id, state_type, state_name, state_timestamp, tags, start_time, \
    end_time, expected_start_time, next_scheduled_start_time, created, updated, doc) VALUES ($1, $2, \
    $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
    ON CONFLICT (id) DO UPDATE SET flow_run_id = excluded.flow_run_id, name = excluded.name, \
    task_key = excluded.task_key, dynamic_key = excluded.dynamic_key, cache_key = excluded.cache_key, \
    state_id = excluded.state_id, state_type = excluded.state_type, state_name = excluded.state_name, \
    state_timestamp = excluded.state_timestamp, tags = excluded.tags, start_time = excluded.start_time, \
    end_time = excluded.end_time, expected_start_time = excluded.expected_start_time, \
    next_scheduled_start_time = excluded.next_scheduled_start_time, updated = excluded.updated, \
    doc = excluded.doc WHERE task_run.state_timestamp IS NULL \
    OR task_run.state_timestamp <= excluded.state_timestamp";

const UPDATE_TASK_RUN: &str = "UPDATE task_run SET id = $1, flow_run_id = $2, name = $3, \
    task_key = $4, dynamic_key = $5, cache_key = $6, state_id = $7, state_type = $8, \
    state_name = $9, state_timestamp = $10, tags = $11, start_time = $12, end_time = $13, \
    expected_start_time = $14, next_scheduled_start_time = $15, created = $16, updated = $17, \
    doc = $18 WHERE id = $1 AND updated = $19";
