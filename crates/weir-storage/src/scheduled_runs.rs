//! The scheduler's writes: what every deployment already has ahead (one grouped query), its
//! wanted runs built into rows ([`Store::prepare_scheduled_runs`]), and the rows of many
//! deployments inserted together ([`Store::insert_scheduled_runs`]) in multi-row statements,
//! [`BULK_ROWS`] runs per short transaction (so other writers interleave on
//! SQLite's single writer connection; on PostgreSQL the chunks run concurrently). A run whose
//! idempotency key exists is skipped, and so is its state, which makes every pass idempotent.

use crate::db::on_pool;
use crate::deployments::check_parameters;
use crate::flow_runs::build_flow_run;
use crate::writer::{values_rows, Statement};
use crate::{Result, Store};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;
use weir_core::deployments::Deployment;
use weir_core::schedules::ScheduledRuns;
use weir_core::schemas::{FlowRunCreate, JsonObject};
use weir_core::{StateCreate, StateType, Timestamp};

/// One run the scheduler wants: its time, its schedule's parameters, its idempotency key.
pub struct ScheduledRun {
    pub at: Timestamp,
    pub parameters: JsonObject,
    pub idempotency_key: String,
}

/// One new run's rows: its `flow_run` row's and its first state's `flow_run_state` row's
/// arguments.
type RunRows = (Vec<Option<String>>, Vec<Option<String>>);

/// The rows of one deployment's wanted runs, ready for [`Store::insert_scheduled_runs`].
pub struct PreparedRuns {
    rows: Vec<RunRows>,
}

impl PreparedRuns {
    /// How many runs these rows are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no run.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Runs per transaction.
const BULK_ROWS: usize = 1000;

/// Runs per multi-row statement on PostgreSQL: 21 parameters each stays under its 65,535 bound
/// parameters.
const POSTGRES_STATEMENT_ROWS: usize = 1000;

/// Runs per multi-row statement on SQLite. Small on purpose: SQLite finds a `$N` parameter by a
/// linear search of the statement's parameter list, on prepare and on every bind, so a
/// statement's cost grows with the square of its parameters (a 1,000-row statement of 21,000
/// parameters took seconds; the previous 100-row ones 16-37 ms).
const SQLITE_STATEMENT_ROWS: usize = 16;

/// Chunks PostgreSQL inserts at once, each on its own connection.
const POSTGRES_PARALLEL_CHUNKS: usize = 4;

const BULK_INSERT_FLOW_RUN: &str = "INSERT INTO flow_run (id, flow_id, name, state_id, \
    state_type, state_name, tags, deployment_id, work_queue_name, work_queue_id, work_pool_id, \
    flow_version, parent_task_run_id, idempotency_key, start_time, end_time, \
    expected_start_time, next_scheduled_start_time, created, updated, doc) VALUES";

impl Store {
    /// Every deployment's SCHEDULED runs due at or after `now`: how many, and the latest time.
    /// Deployments with none are absent.
    pub async fn scheduled_runs_ahead(
        &self,
        now: Timestamp,
    ) -> Result<HashMap<Uuid, ScheduledRuns>> {
        let rows: Vec<(String, i64, Option<String>)> = on_pool!(read &self.db, pool =>
            sqlx::query_as(
                "SELECT deployment_id, COUNT(*), MAX(next_scheduled_start_time) FROM flow_run \
                 WHERE state_type = 'SCHEDULED' AND next_scheduled_start_time >= $1 \
                 AND deployment_id IS NOT NULL GROUP BY deployment_id")
            .bind(now.to_canonical()).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, count, latest)| {
                let ahead = ScheduledRuns {
                    count: count.max(0) as usize,
                    latest: latest.and_then(|t| t.parse().ok()),
                };
                id.parse().ok().map(|id| (id, ahead))
            })
            .collect())
    }

    /// The rows of a deployment's scheduled runs: each SCHEDULED at its time, with the
    /// deployment's parameters under its schedule's (checked once per distinct set when the
    /// schema is enforced: a 422 names the parameter), tagged `auto-scheduled`, in the
    /// deployment's pool and queue.
    pub async fn prepare_scheduled_runs(
        &self,
        deployment: &Deployment,
        runs: Vec<ScheduledRun>,
        now: Timestamp,
    ) -> Result<PreparedRuns> {
        let mut prepared = PreparedRuns {
            rows: Vec::with_capacity(runs.len()),
        };
        if runs.is_empty() {
            return Ok(prepared);
        }
        let placement = self
            .placement(
                deployment.work_pool_name.as_deref(),
                deployment.work_queue_name.as_deref(),
            )
            .await?;
        let mut checked: Vec<JsonObject> = Vec::new();
        let mut tags = deployment.tags.clone();
        tags.push("auto-scheduled".to_owned());
        let mut labels = deployment.labels.clone();
        labels.insert(
            "prefect.deployment.id".into(),
            Value::from(deployment.id.to_string()),
        );
        for run in runs {
            let mut parameters = deployment.parameters.clone();
            parameters.extend(run.parameters);
            if deployment.enforce_parameter_schema && !checked.contains(&parameters) {
                check_parameters(deployment.parameter_openapi_schema.as_ref(), &parameters)?;
                checked.push(parameters.clone());
            }
            let mut state = StateCreate::of_type(StateType::Scheduled);
            state.state_details.scheduled_time = Some(run.at);
            state.message = Some("Flow run scheduled".to_owned());
            let create = FlowRunCreate {
                state: Some(state),
                flow_version: deployment.version.clone(),
                parameters,
                tags: tags.clone(),
                labels: Some(labels.clone()),
                idempotency_key: Some(run.idempotency_key),
                work_pool_name: deployment.work_pool_name.clone(),
                work_queue_name: deployment.work_queue_name.clone(),
                job_variables: Some(JsonObject::new()),
                deployment_id: Some(deployment.id),
                ..FlowRunCreate::for_flow(deployment.flow_id)
            };
            let (_, _, statements) = build_flow_run(create, &placement, now, true)?;
            let [run_row, state_row]: [Statement; 2] = statements
                .try_into()
                .unwrap_or_else(|_| unreachable!("a new run is one run row and one state row"));
            prepared.rows.push((run_row.args, state_row.args));
        }
        Ok(prepared)
    }

    /// Inserts the prepared runs of any number of deployments; returns how many were new (runs
    /// whose idempotency key exists already are skipped).
    pub async fn insert_scheduled_runs(&self, prepared: Vec<PreparedRuns>) -> Result<usize> {
        let rows: Vec<_> = prepared.into_iter().flat_map(|p| p.rows).collect();
        let chunks: Vec<_> = rows.chunks(BULK_ROWS).collect();
        let mut inserted = 0;
        match &self.db {
            crate::db::Db::Postgres(pool) => {
                for group in chunks.chunks(POSTGRES_PARALLEL_CHUNKS) {
                    let done = futures::future::try_join_all(
                        group
                            .iter()
                            .map(|chunk| insert_chunk_pg(pool, chunk, POSTGRES_STATEMENT_ROWS)),
                    )
                    .await?;
                    inserted += done.iter().sum::<u64>();
                }
            }
            crate::db::Db::Sqlite { write, .. } => {
                for chunk in chunks {
                    inserted += insert_chunk_sqlite(write, chunk, SQLITE_STATEMENT_ROWS).await?;
                }
            }
        }
        Ok(inserted as usize)
    }
}

/// The multi-row insert of `rows` runs, skipping taken idempotency keys.
fn insert_runs_sql(rows: usize) -> String {
    format!(
        "{BULK_INSERT_FLOW_RUN} {} ON CONFLICT (flow_id, idempotency_key) DO NOTHING",
        values_rows(rows, &["?"; 21])
    )
}

/// The multi-row insert of `rows` first states: each goes in only beside the run it belongs to
/// (a skipped run's new state id is not its run's).
fn insert_states_sql(rows: usize) -> String {
    format!(
        "INSERT INTO flow_run_state (id, flow_run_id, timestamp, doc) \
         SELECT v.column1, v.column2, v.column3, v.column4 FROM (VALUES {}) AS v \
         JOIN flow_run f ON f.id = v.column2 AND f.state_id = v.column1",
        values_rows(rows, &["?"; 4])
    )
}

/// One chunk's runs and states in one transaction, `statement_rows` runs per statement; how
/// many runs were new.
macro_rules! insert_chunk {
    ($name:ident, $pool:ty) => {
        async fn $name(
            pool: &$pool,
            chunk: &[RunRows],
            statement_rows: usize,
        ) -> std::result::Result<u64, sqlx::Error> {
            let mut tx = pool.begin().await?;
            let mut inserted = 0;
            for rows in chunk.chunks(statement_rows) {
                let sql = insert_runs_sql(rows.len());
                let mut query = sqlx::query(&sql);
                for (run, _) in rows {
                    for arg in run {
                        query = query.bind(arg.as_deref());
                    }
                }
                let new = query.execute(&mut *tx).await?.rows_affected();
                inserted += new;
                if new > 0 {
                    let sql = insert_states_sql(rows.len());
                    let mut query = sqlx::query(&sql);
                    for (_, state) in rows {
                        for arg in state {
                            query = query.bind(arg.as_deref());
                        }
                    }
                    query.execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(inserted)
        }
    };
}
insert_chunk!(insert_chunk_sqlite, sqlx::SqlitePool);
insert_chunk!(insert_chunk_pg, sqlx::PgPool);
