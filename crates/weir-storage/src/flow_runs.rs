//! Flow runs: create (idempotent on the idempotency key), read, update, delete, filter, and the
//! orchestrated `set_state`.

use crate::db::{bind_all, on_pool, opt_text, tags_column};
use crate::flows::flow_run_labels;
use crate::writer::Statement;
use crate::{Error, Result, Store};
use uuid::Uuid;
use weir_core::events::{flow_run_state_event, Event};
use weir_core::filters::{RunFilterBody, Sort, Target};
use weir_core::orchestration::bookkeeping::apply_state;
use weir_core::orchestration::flow::{
    decide, needs_deployment_slot, releases_deployment_slot, FlowRunFacts,
};
use weir_core::orchestration::Decision;
use weir_core::schemas::{FlowRun, FlowRunCreate, FlowRunUpdate, JsonObject, OrchestrationResult};
use weir_core::{State, StateCreate, StateType, Timestamp};

/// What `set_state` did: the wire answer, and the event to publish when a state was written.
#[derive(Debug)]
pub struct SetStateOutcome {
    pub result: OrchestrationResult,
    /// `true` when a state was written (the HTTP answer is then 201 for ACCEPT).
    pub written: bool,
    pub event: Option<Event>,
}

/// How often `set_state` re-reads and re-decides when another writer changed the run meanwhile.
const MAX_STATE_RACES: usize = 8;

impl Store {
    /// Creates a flow run in its initial state (PENDING when none is given). When the flow already
    /// has a run with the same idempotency key, that run is returned and the flag is `false`.
    pub async fn create_flow_run(&self, create: FlowRunCreate) -> Result<(FlowRun, bool)> {
        let flow_id = create.flow_id;
        self.flow_name(flow_id).await.map_err(|e| match e {
            Error::NotFound { .. } => Error::Invalid(format!("flow_id: flow {flow_id} not found")),
            other => other,
        })?;
        if let Some(key) = &create.idempotency_key {
            if let Some(run) = self.flow_run_by_idempotency_key(flow_id, key).await? {
                return Ok((run, false));
            }
        }
        let placement = self
            .placement(
                create.work_pool_name.as_deref(),
                create.work_queue_name.as_deref(),
            )
            .await?;
        let (run, state, statements) = build_flow_run(create, &placement, Timestamp::now(), false)?;
        let flow_id = run.flow_id;
        let inserted = self.writer.write(statements).await?;
        if !inserted {
            // A concurrent create with the same idempotency key won the race.
            let key = run.idempotency_key.clone().unwrap_or_default();
            let existing = self.flow_run_by_idempotency_key(flow_id, &key).await?;
            return existing
                .map(|r| (r, false))
                .ok_or(Error::NotFound { kind: "Flow run" });
        }
        self.mirror_to_parent_task_run(&run, &state).await;
        Ok((run, true))
    }

    /// A subflow run's parent task run follows the subflow's states (as Prefect's server does):
    /// each state written on the child is copied onto the parent task run, pointing back at the
    /// child. A failure here is logged, not returned: the child's own state is already written.
    async fn mirror_to_parent_task_run(&self, run: &FlowRun, state: &State) {
        let Some(parent) = run.parent_task_run_id else {
            return;
        };
        let mut copy = StateCreate::of_type(state.state_type);
        copy.name = Some(state.display_name().to_owned());
        copy.message = state.message.clone();
        copy.data = state.data.clone();
        copy.state_details.child_flow_run_id = Some(run.id);
        copy.state_details.transition_id = state.state_details.transition_id;
        copy.state_details.scheduled_time = state.state_details.scheduled_time;
        if let Err(error) = self.set_task_run_state(parent, copy, true).await {
            tracing::warn!(%error, task_run = %parent, "could not mirror a subflow state");
        }
    }

    async fn flow_run_by_idempotency_key(
        &self,
        flow_id: Uuid,
        key: &str,
    ) -> Result<Option<FlowRun>> {
        let row: Option<(String,)> = on_pool!(&self.db, pool => sqlx::query_as(
            "SELECT doc FROM flow_run WHERE flow_id = $1 AND idempotency_key = $2")
            .bind(flow_id.to_string()).bind(key).fetch_optional(pool).await)?;
        row.map(|(doc,)| decode_run(&doc)).transpose()
    }

    /// The flow run with this id.
    pub async fn read_flow_run(&self, id: Uuid) -> Result<FlowRun> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM flow_run WHERE id = $1")
            .bind(id.to_string()).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(Error::NotFound { kind: "Flow run" })?;
        decode_run(&doc)
    }

    /// Flow runs matching a filter body, sorted (newest first by default) and paged.
    pub async fn filter_flow_runs(&self, body: &RunFilterBody) -> Result<Vec<FlowRun>> {
        let mut sql = self.db.builder();
        sql.push("SELECT doc FROM flow_run WHERE ")
            .predicate(&body.predicate_for(Target::FlowRun));
        sql.push(" ORDER BY ")
            .push(body.sort.unwrap_or(Sort::IdDesc).order_by());
        sql.page(body.limit, body.offset);
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_all(pool).await)?;
        rows.iter().map(|(doc,)| decode_run(doc)).collect()
    }

    /// How many flow runs match a filter body.
    pub async fn count_flow_runs(&self, body: &RunFilterBody) -> Result<i64> {
        self.count("flow_run", body.predicate_for(Target::FlowRun))
            .await
    }

    /// Applies a partial update (name, version, parameters, policy, tags, infrastructure pid, job
    /// variables).
    pub async fn update_flow_run(&self, id: Uuid, update: FlowRunUpdate) -> Result<()> {
        self.modify_flow_run(id, |run| {
            if let Some(name) = update.name.clone() {
                run.name = name;
            }
            if let Some(version) = update.flow_version.clone() {
                run.flow_version = Some(version);
            }
            if let Some(parameters) = update.parameters.clone() {
                run.parameters = parameters;
            }
            if let Some(policy) = update.empirical_policy.clone() {
                run.empirical_policy = policy;
            }
            if let Some(tags) = update.tags.clone() {
                run.tags = tags;
            }
            if let Some(pid) = update.infrastructure_pid.clone() {
                run.infrastructure_pid = Some(pid);
            }
            if let Some(vars) = update.job_variables.clone() {
                run.job_variables = vars;
            }
        })
        .await
    }

    /// Merges `labels` into the run's labels.
    pub async fn patch_flow_run_labels(&self, id: Uuid, labels: JsonObject) -> Result<()> {
        self.modify_flow_run(id, |run| run.labels.extend(labels.clone()))
            .await
    }

    /// Reads, changes and writes back a run's document, retrying when a concurrent write (such as
    /// a state change) got in between, so neither change is lost.
    async fn modify_flow_run(&self, id: Uuid, change: impl Fn(&mut FlowRun)) -> Result<()> {
        for _ in 0..MAX_STATE_RACES {
            let mut run = self.read_flow_run(id).await?;
            let version = run.updated;
            change(&mut run);
            if self.write_flow_run(&mut run, version, None).await? {
                return Ok(());
            }
        }
        Err(Error::Conflict(
            "flow run changed concurrently; retry the update".into(),
        ))
    }

    /// Writes the run's columns and document (and `new_state` into the history) if the stored run is
    /// still at `version` (its `updated` time). Every write moves `updated` strictly forward, so it
    /// works as an optimistic-concurrency version. Returns whether the write happened.
    async fn write_flow_run(
        &self,
        run: &mut FlowRun,
        version: Timestamp,
        new_state: Option<&State>,
    ) -> Result<bool> {
        run.updated = Timestamp::now().max(version.plus_seconds(0.000_001));
        let run = &*run;
        let update = Statement {
            sql: UPDATE_FLOW_RUN.into(),
            args: vec![
                Some(run.name.clone()),
                opt_text(run.state_id),
                run.state_type.map(|t| t.as_str().to_owned()),
                run.state_name.clone(),
                Some(tags_column(&run.tags)),
                run.flow_version.clone(),
                opt_text(run.start_time),
                opt_text(run.end_time),
                opt_text(run.expected_start_time),
                opt_text(run.next_scheduled_start_time),
                Some(run.updated.to_canonical()),
                Some(serde_json::to_string(run)?),
                run.work_queue_name.clone(),
                opt_text(run.work_queue_id),
                opt_text(run.work_pool_id),
                opt_text(run.deployment_id),
                Some(run.id.to_string()),
                Some(version.to_canonical()),
            ],
        };
        let mut statements = vec![update];
        if let Some(state) = new_state {
            statements.push(state_row(FLOW_RUN_STATE, run.id, state)?);
        }
        self.writer.write(statements).await
    }

    /// Deletes a flow run with its states and task runs.
    pub async fn delete_flow_run(&self, id: Uuid) -> Result<()> {
        let key = id.to_string();
        let deleted = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for statement in [
                "DELETE FROM task_run_state WHERE task_run_id IN (SELECT id FROM task_run WHERE flow_run_id = $1)",
                "DELETE FROM task_run WHERE flow_run_id = $1",
                "DELETE FROM flow_run_state WHERE flow_run_id = $1",
            ] {
                sqlx::query(statement).bind(&key).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM flow_run WHERE id = $1").bind(&key).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(Error::NotFound { kind: "Flow run" });
        }
        Ok(())
    }

    /// Proposes a state for a flow run and applies the orchestration policy's answer atomically.
    pub async fn set_flow_run_state(
        &self,
        id: Uuid,
        mut proposal: StateCreate,
        force: bool,
    ) -> Result<SetStateOutcome> {
        proposal.state_details.flow_run_id = Some(id);
        for _ in 0..MAX_STATE_RACES {
            let mut run = self.read_flow_run(id).await?;
            proposal.state_details.task_run_id = run.parent_task_run_id;
            let previous = run.state.clone();
            let facts = FlowRunFacts {
                current: previous.as_ref(),
                run_count: run.run_count,
                retries: run
                    .empirical_policy
                    .retries
                    .unwrap_or(run.empirical_policy.max_retries),
                retry_delay_seconds: run
                    .empirical_policy
                    .retry_delay
                    .map(|d| d as f64)
                    .unwrap_or(run.empirical_policy.retry_delay_seconds),
                has_deployment: run.deployment_id.is_some(),
                has_infrastructure: run.infrastructure_pid.is_some(),
            };
            let now = Timestamp::now();
            let mut decision = decide(&facts, proposal.clone(), force, now);
            // Deployment concurrency: a run entering PENDING takes a slot of its deployment's
            // limit first, and gives it back should its state not be written after all.
            let mut took_slot = None;
            if let (false, Some(deployment_id), Some(entering)) =
                (force, run.deployment_id, decision.state_to_write())
            {
                let from = previous.as_ref().map(|s| s.state_type);
                if needs_deployment_slot(from, entering.state_type) {
                    match self.read_deployment(deployment_id).await {
                        Ok(deployment) => {
                            match self.secure_deployment_slot(id, &deployment).await? {
                                Some(instead) => decision = instead,
                                None => took_slot = Some(deployment_id),
                            }
                        }
                        Err(Error::NotFound { .. }) => {
                            decision = Decision::Abort {
                                reason: "Deployment not found.".into(),
                            }
                        }
                        Err(other) => return Err(other),
                    }
                }
            }
            let Some(to_write) = decision.state_to_write().cloned() else {
                return Ok(SetStateOutcome {
                    result: decision.into_result(previous),
                    written: false,
                    event: None,
                });
            };
            if matches!(decision, Decision::Reject { .. })
                && to_write.display_name() == "AwaitingRetry"
            {
                run.empirical_policy.retry_type = Some("in_process".into());
            }
            let version = run.updated;
            let written = apply_state(&mut run, to_write);
            if !self
                .write_flow_run(&mut run, version, Some(&written))
                .await?
            {
                if let Some(deployment_id) = took_slot {
                    self.release_deployment_slot(id, deployment_id).await?;
                }
                continue;
            }
            if let Some(deployment_id) = run.deployment_id {
                let from = previous.as_ref().map(|s| s.state_type);
                if releases_deployment_slot(from, written.state_type) {
                    self.release_deployment_slot(id, deployment_id).await?;
                }
            }
            let flow_name = self.flow_name(run.flow_id).await.ok();
            let event = flow_run_state_event(
                &run,
                flow_name.as_deref(),
                previous.as_ref(),
                &written,
                None,
            );
            self.mirror_to_parent_task_run(&run, &written).await;
            return Ok(SetStateOutcome {
                result: decision.with_written(written).into_result(None),
                written: true,
                event: Some(event),
            });
        }
        Err(Error::Conflict(
            "flow run state changed concurrently; retry".into(),
        ))
    }

    /// SCHEDULED runs (not yet marked Late) whose scheduled time is before `cutoff`, oldest first.
    pub async fn late_flow_runs(&self, cutoff: Timestamp, limit: i64) -> Result<Vec<FlowRun>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM flow_run WHERE state_type = 'SCHEDULED' AND state_name <> 'Late' \
             AND next_scheduled_start_time < $1 ORDER BY next_scheduled_start_time LIMIT $2")
            .bind(cutoff.to_canonical()).bind(limit).fetch_all(pool).await)?;
        rows.iter().map(|(doc,)| decode_run(doc)).collect()
    }

    /// Records flow runs' heartbeats: each run's last heartbeat moves to the given time if later.
    pub async fn record_flow_run_heartbeats(&self, beats: &[(Uuid, Timestamp)]) -> Result<()> {
        for (id, at) in beats {
            on_pool!(&self.db, pool => sqlx::query(
                "INSERT INTO flow_run_heartbeat (flow_run_id, last_heartbeat) VALUES ($1, $2) \
                 ON CONFLICT (flow_run_id) DO UPDATE SET last_heartbeat = excluded.last_heartbeat \
                 WHERE excluded.last_heartbeat > flow_run_heartbeat.last_heartbeat")
                .bind(id.to_string()).bind(at.to_canonical()).execute(pool).await.map(|_| ()))?;
        }
        Ok(())
    }

    /// RUNNING flow runs that have heartbeated and whose last heartbeat is before `cutoff`, with
    /// that heartbeat's time, oldest first.
    pub async fn silent_running_flow_runs(
        &self,
        cutoff: Timestamp,
        limit: i64,
    ) -> Result<Vec<(FlowRun, Timestamp)>> {
        let rows: Vec<(String, String)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT fr.doc, h.last_heartbeat FROM flow_run fr \
             JOIN flow_run_heartbeat h ON h.flow_run_id = fr.id \
             WHERE fr.state_type = 'RUNNING' AND h.last_heartbeat < $1 \
             ORDER BY h.last_heartbeat LIMIT $2")
            .bind(cutoff.to_canonical()).bind(limit).fetch_all(pool).await)?;
        rows.iter()
            .map(|(doc, beat)| {
                let at: Timestamp = serde_json::from_value(beat.as_str().into())?;
                Ok((decode_run(doc)?, at))
            })
            .collect()
    }

    /// Subflow runs, not in a final state, of CANCELLED flow runs (a subflow run's parent is the flow
    /// run of its `parent_task_run_id`).
    pub async fn unfinished_subflows_of_cancelled_runs(&self, limit: i64) -> Result<Vec<FlowRun>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT child.doc FROM flow_run child \
             JOIN task_run t ON t.id = child.parent_task_run_id \
             JOIN flow_run parent ON parent.id = t.flow_run_id \
             WHERE parent.state_type = 'CANCELLED' AND (child.state_type IS NULL OR \
             child.state_type NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')) \
             ORDER BY child.created LIMIT $1")
            .bind(limit).fetch_all(pool).await)?;
        rows.iter().map(|(doc,)| decode_run(doc)).collect()
    }

    /// CANCELLING flow runs no worker will cancel: no deployment (so no worker polls for them).
    /// The caller also checks `infrastructure_pid`, which only the document holds.
    pub async fn cancelling_flow_runs_without_deployment(
        &self,
        limit: i64,
    ) -> Result<Vec<FlowRun>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM flow_run WHERE state_type = 'CANCELLING' AND deployment_id IS NULL \
             ORDER BY created LIMIT $1")
            .bind(limit).fetch_all(pool).await)?;
        rows.iter().map(|(doc,)| decode_run(doc)).collect()
    }

    /// A flow run's state history, oldest first.
    pub async fn flow_run_states(&self, flow_run_id: Uuid) -> Result<Vec<State>> {
        self.run_states("flow_run_state", "flow_run_id", flow_run_id)
            .await
    }

    /// One state by id, from the flow-run or task-run history.
    pub async fn read_state(&self, table: &'static str, id: Uuid) -> Result<State> {
        let sql = format!("SELECT doc FROM {table} WHERE id = $1");
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(&sql)
            .bind(id.to_string()).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(Error::NotFound { kind: "State" })?;
        Ok(serde_json::from_str(&doc)?)
    }

    pub(crate) async fn run_states(
        &self,
        table: &'static str,
        column: &'static str,
        run_id: Uuid,
    ) -> Result<Vec<State>> {
        let sql = format!("SELECT doc FROM {table} WHERE {column} = $1 ORDER BY timestamp, id");
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(&sql)
            .bind(run_id.to_string()).fetch_all(pool).await)?;
        rows.iter()
            .map(|(doc,)| Ok(serde_json::from_str(doc)?))
            .collect()
    }
}

/// Where a new run goes: its pool and queue (resolved from their names).
pub(crate) struct Placement {
    work_pool_id: Option<Uuid>,
    work_queue_id: Option<Uuid>,
    work_queue_name: Option<String>,
}

impl Store {
    /// The pool and queue of a new run: the named queue of the named pool, or the pool's default.
    pub(crate) async fn placement(
        &self,
        pool_name: Option<&str>,
        queue_name: Option<&str>,
    ) -> Result<Placement> {
        Ok(match pool_name {
            Some(pool) => {
                let (pool, queue) = self.resolve_work_queue(pool, queue_name).await?;
                Placement {
                    work_pool_id: Some(pool.id),
                    work_queue_id: Some(queue.id),
                    work_queue_name: Some(queue.name),
                }
            }
            None => Placement {
                work_pool_id: None,
                work_queue_id: None,
                work_queue_name: queue_name.map(str::to_owned),
            },
        })
    }
}

/// A new run in its initial state, and the statements that insert it and its first state;
/// `auto_scheduled` marks the runs the scheduler makes (Prefect's `auto_scheduled`).
pub(crate) fn build_flow_run(
    create: FlowRunCreate,
    placement: &Placement,
    now: Timestamp,
    auto_scheduled: bool,
) -> Result<(FlowRun, State, Vec<Statement>)> {
    let flow_id = create.flow_id;
    let id = Uuid::new_v4();
    let mut run = FlowRun {
        id,
        created: now,
        updated: now,
        name: create
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(weir_core::names::random_run_name),
        flow_id,
        state_id: None,
        deployment_id: create.deployment_id,
        deployment_version: None,
        work_queue_id: placement.work_queue_id,
        work_queue_name: placement.work_queue_name.clone(),
        flow_version: create.flow_version,
        parameters: create.parameters,
        idempotency_key: create.idempotency_key,
        context: create.context,
        empirical_policy: create.empirical_policy,
        tags: create.tags,
        labels: flow_run_labels(flow_id, create.labels),
        parent_task_run_id: create.parent_task_run_id,
        state_type: None,
        state_name: None,
        run_count: 0,
        expected_start_time: None,
        next_scheduled_start_time: None,
        start_time: None,
        end_time: None,
        total_run_time: 0.0,
        estimated_run_time: 0.0,
        estimated_start_time_delta: 0.0,
        auto_scheduled,
        infrastructure_document_id: create.infrastructure_document_id,
        infrastructure_pid: None,
        created_by: None,
        work_pool_id: placement.work_pool_id,
        work_pool_name: create.work_pool_name,
        state: None,
        job_variables: create.job_variables.unwrap_or_default(),
    };
    let mut proposal = create
        .state
        .unwrap_or_else(|| StateCreate::of_type(StateType::Pending));
    proposal.state_details.flow_run_id = Some(id);
    proposal.state_details.task_run_id = run.parent_task_run_id;
    let state = apply_state(&mut run, State::from_proposal(proposal, now));
    run.refresh_estimates(now);
    let insert = Statement {
        sql: INSERT_FLOW_RUN.into(),
        args: vec![
            Some(run.id.to_string()),
            Some(run.flow_id.to_string()),
            Some(run.name.clone()),
            opt_text(run.state_id),
            run.state_type.map(|t| t.as_str().to_owned()),
            run.state_name.clone(),
            Some(tags_column(&run.tags)),
            opt_text(run.deployment_id),
            run.work_queue_name.clone(),
            opt_text(run.work_queue_id),
            opt_text(run.work_pool_id),
            run.flow_version.clone(),
            opt_text(run.parent_task_run_id),
            run.idempotency_key.clone(),
            opt_text(run.start_time),
            opt_text(run.end_time),
            opt_text(run.expected_start_time),
            opt_text(run.next_scheduled_start_time),
            Some(run.created.to_canonical()),
            Some(run.updated.to_canonical()),
            Some(serde_json::to_string(&run)?),
        ],
    };

    let statements = vec![insert, state_row(FLOW_RUN_STATE, id, &state)?];
    Ok((run, state, statements))
}

/// The statement inserting one row of a state-history table.
pub(crate) fn state_row(sql: &'static str, run_id: Uuid, state: &State) -> Result<Statement> {
    Ok(Statement {
        sql: sql.into(),
        args: vec![
            Some(state.id.to_string()),
            Some(run_id.to_string()),
            Some(state.timestamp.to_canonical()),
            Some(serde_json::to_string(state)?),
        ],
    })
}

const FLOW_RUN_STATE: &str =
    "INSERT INTO flow_run_state (id, flow_run_id, timestamp, doc) VALUES ($1, $2, $3, $4)";

fn decode_run(doc: &str) -> Result<FlowRun> {
    let mut run: FlowRun = serde_json::from_str(doc)?;
    run.refresh_estimates(Timestamp::now());
    Ok(run)
}

const INSERT_FLOW_RUN: &str = "INSERT INTO flow_run (id, flow_id, name, state_id, state_type, \
    state_name, tags, deployment_id, work_queue_name, work_queue_id, work_pool_id, flow_version, \
    parent_task_run_id, idempotency_key, start_time, end_time, expected_start_time, \
    next_scheduled_start_time, created, updated, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
    $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
    ON CONFLICT (flow_id, idempotency_key) DO NOTHING";

const UPDATE_FLOW_RUN: &str = "UPDATE flow_run SET name = $1, state_id = $2, state_type = $3, \
    state_name = $4, tags = $5, flow_version = $6, start_time = $7, end_time = $8, \
    expected_start_time = $9, next_scheduled_start_time = $10, updated = $11, doc = $12, \
    work_queue_name = $13, work_queue_id = $14, work_pool_id = $15, deployment_id = $16 \
    WHERE id = $17 AND updated = $18";
