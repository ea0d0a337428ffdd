//! Deployments: upsert on (flow, name), read, filter, update, delete, schedules, and the flow
//! runs created from them.
//!
//! A deployment's work pool and queue are resolved when it is written (the queue defaults to the
//! pool's default queue), its job variables are checked against the pool's base job template, and
//! a run created from it merges the deployment's parameters, tags and job variables with the
//! request's, checked the same way (and its parameters against the deployment's parameter schema
//! when that is enforced).

use crate::db::on_pool;
use crate::{Error, Result, Store};
use serde_json::Value;
use uuid::Uuid;
use weir_core::deployments::{
    Deployment, DeploymentCreate, DeploymentFlowRunCreate, DeploymentSchedule,
    DeploymentScheduleCreate, DeploymentScheduleUpdate, DeploymentUpdate,
};
use weir_core::job_template::{validate_job_variables, BaseJobTemplate, JobVariablesCheck};
use weir_core::schedules::{
    validate_max_scheduled_runs, Schedule, DEFAULT_MAX_SCHEDULED_RUNS_LIMIT,
};
use weir_core::schemas::{FlowRun, FlowRunCreate, JsonObject};
use weir_core::work_pools::{deployment_status, WorkPool};
use weir_core::{StateCreate, StateType, Timestamp};

impl Store {
    /// Creates a deployment, or replaces the flow's deployment of the same name (keeping its id).
    /// The flag is `true` when it was created.
    pub async fn upsert_deployment(&self, create: DeploymentCreate) -> Result<(Deployment, bool)> {
        if create.name.trim().is_empty() {
            return Err(Error::Invalid("name: must not be empty".into()));
        }
        self.read_flow(create.flow_id).await.map_err(|e| match e {
            Error::NotFound { .. } => {
                Error::Invalid(format!("flow_id: flow {} not found", create.flow_id))
            }
            other => other,
        })?;
        let existing = self
            .deployment_by_flow(create.flow_id, &create.name)
            .await?;
        let now = Timestamp::now();
        let schedules = checked_schedules(create.schedules, now)?;
        let id = existing.as_ref().map_or_else(Uuid::new_v4, |d| d.id);
        let mut deployment = Deployment {
            id,
            created: existing.as_ref().map_or(now, |d| d.created),
            updated: now,
            name: create.name,
            version: create.version,
            version_info: create.version_info,
            description: create.description,
            flow_id: create.flow_id,
            paused: create.paused,
            status: None,
            schedules: schedules
                .into_iter()
                .map(|s| new_schedule(id, s, now))
                .collect(),
            concurrency_limit: create.concurrency_limit,
            global_concurrency_limit: None,
            concurrency_options: create.concurrency_options,
            job_variables: create.job_variables,
            parameters: create.parameters,
            tags: create.tags,
            labels: create.labels.unwrap_or_default(),
            work_queue_name: create.work_queue_name,
            work_queue_id: None,
            work_pool_name: create.work_pool_name,
            last_polled: None,
            parameter_openapi_schema: create.parameter_openapi_schema,
            path: create.path,
            pull_steps: create.pull_steps,
            entrypoint: create.entrypoint,
            storage_document_id: create.storage_document_id,
            infrastructure_document_id: create.infrastructure_document_id,
            created_by: None,
            updated_by: None,
            enforce_parameter_schema: create.enforce_parameter_schema,
        };
        self.place_deployment(&mut deployment).await?;
        let doc = serde_json::to_string(&deployment)?;
        on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO deployment (id, flow_id, name, work_queue_id, paused, created, updated, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (flow_id, name) DO UPDATE SET work_queue_id = excluded.work_queue_id, \
             paused = excluded.paused, updated = excluded.updated, doc = excluded.doc")
            .bind(deployment.id.to_string())
            .bind(deployment.flow_id.to_string())
            .bind(&deployment.name)
            .bind(deployment.work_queue_id.map(|q| q.to_string()))
            .bind(deployment.paused)
            .bind(deployment.created.to_canonical())
            .bind(now.to_canonical())
            .bind(doc)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        let stored = self.read_deployment(deployment.id).await?;
        Ok((stored, existing.is_none()))
    }

    /// Resolves the pool and queue of a deployment and checks its job variables.
    async fn place_deployment(&self, deployment: &mut Deployment) -> Result<()> {
        let Some(pool_name) = deployment.work_pool_name.clone() else {
            deployment.work_queue_id = None;
            return Ok(());
        };
        let (pool, queue) = self
            .resolve_work_queue(&pool_name, deployment.work_queue_name.as_deref())
            .await?;
        check_job_variables(
            &pool,
            &deployment.job_variables,
            JobVariablesCheck::DEPLOYMENT,
        )?;
        deployment.work_queue_id = Some(queue.id);
        deployment.work_queue_name = Some(queue.name);
        Ok(())
    }

    async fn deployment_by_flow(&self, flow_id: Uuid, name: &str) -> Result<Option<Deployment>> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM deployment WHERE flow_id = $1 AND name = $2")
            .bind(flow_id.to_string()).bind(name).fetch_optional(pool).await)?;
        row.map(|(doc,)| serde_json::from_str(&doc).map_err(Error::from))
            .transpose()
    }

    /// A deployment by id, with its status.
    pub async fn read_deployment(&self, id: Uuid) -> Result<Deployment> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM deployment WHERE id = $1")
            .bind(id.to_string()).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(Error::NotFound { kind: "Deployment" })?;
        self.with_deployment_status(serde_json::from_str(&doc)?)
            .await
    }

    /// A deployment by its flow's name and its own.
    pub async fn read_deployment_by_name(&self, flow: &str, name: &str) -> Result<Deployment> {
        let flow = self
            .read_flow_by_name(flow)
            .await?
            .ok_or(Error::NotFound { kind: "Deployment" })?;
        let deployment = self
            .deployment_by_flow(flow.id, name)
            .await?
            .ok_or(Error::NotFound { kind: "Deployment" })?;
        self.with_deployment_status(deployment).await
    }

    /// Every deployment, by name, with statuses.
    pub async fn list_deployments(&self) -> Result<Vec<Deployment>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM deployment ORDER BY name").fetch_all(pool).await)?;
        let mut deployments = Vec::with_capacity(rows.len());
        for (doc,) in rows {
            deployments.push(
                self.with_deployment_status(serde_json::from_str(&doc)?)
                    .await?,
            );
        }
        Ok(deployments)
    }

    /// READY while its queue is being polled by a worker, else NOT_READY.
    async fn with_deployment_status(&self, mut deployment: Deployment) -> Result<Deployment> {
        let mut queue_status = None;
        if let Some(queue) = deployment.work_queue_id {
            if let Ok(queue) = self.read_work_queue(queue).await {
                deployment.last_polled = queue.last_polled;
                queue_status = queue.status;
            }
        }
        deployment.status = Some(deployment_status(
            queue_status,
            deployment.last_polled,
            Timestamp::now(),
            &self.status_timeouts,
        ));
        Ok(deployment)
    }

    async fn write_deployment(&self, deployment: &mut Deployment) -> Result<()> {
        deployment.updated = Timestamp::now();
        deployment.status = None;
        on_pool!(&self.db, pool => sqlx::query(
            "UPDATE deployment SET work_queue_id = $1, paused = $2, updated = $3, doc = $4 \
             WHERE id = $5")
            .bind(deployment.work_queue_id.map(|q| q.to_string()))
            .bind(deployment.paused)
            .bind(deployment.updated.to_canonical())
            .bind(serde_json::to_string(&*deployment)?)
            .bind(deployment.id.to_string())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Applies an update to a deployment.
    pub async fn update_deployment(&self, id: Uuid, update: DeploymentUpdate) -> Result<()> {
        let mut d = self.read_deployment(id).await?;
        let now = Timestamp::now();
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(value) = update.$field { d.$field = value; } )* };
        }
        macro_rules! set_some {
            ($($field:ident),*) => { $( if update.$field.is_some() { d.$field = update.$field; } )* };
        }
        set!(
            paused,
            parameters,
            tags,
            job_variables,
            enforce_parameter_schema
        );
        set_some!(
            version,
            description,
            concurrency_limit,
            concurrency_options,
            parameter_openapi_schema,
            path,
            pull_steps,
            entrypoint,
            storage_document_id,
            infrastructure_document_id,
            version_info
        );
        if let Some(pool) = update.work_pool_name {
            d.work_pool_name = Some(pool);
            d.work_queue_name = update.work_queue_name;
        } else if update.work_queue_name.is_some() {
            d.work_queue_name = update.work_queue_name;
        }
        if let Some(schedules) = update.schedules {
            d.schedules = checked_schedules(schedules, now)?
                .into_iter()
                .map(|s| new_schedule(id, s, now))
                .collect();
        }
        self.place_deployment(&mut d).await?;
        self.write_deployment(&mut d).await
    }

    /// Deletes a deployment (its runs keep their history).
    pub async fn delete_deployment(&self, id: Uuid) -> Result<()> {
        let deleted = on_pool!(&self.db, pool => sqlx::query("DELETE FROM deployment WHERE id = $1")
            .bind(id.to_string()).execute(pool).await.map(|r| r.rows_affected()))?;
        if deleted == 0 {
            return Err(Error::NotFound { kind: "Deployment" });
        }
        Ok(())
    }

    /// Adds schedules to a deployment; returns the new ones.
    pub async fn add_deployment_schedules(
        &self,
        id: Uuid,
        schedules: Vec<DeploymentScheduleCreate>,
    ) -> Result<Vec<DeploymentSchedule>> {
        let mut deployment = self.read_deployment(id).await?;
        let now = Timestamp::now();
        let added: Vec<DeploymentSchedule> = checked_schedules(schedules, now)?
            .into_iter()
            .map(|s| new_schedule(id, s, now))
            .collect();
        deployment.schedules.extend(added.iter().cloned());
        self.write_deployment(&mut deployment).await?;
        Ok(added)
    }

    /// Changes one schedule of a deployment.
    pub async fn update_deployment_schedule(
        &self,
        id: Uuid,
        schedule_id: Uuid,
        update: DeploymentScheduleUpdate,
    ) -> Result<()> {
        let mut deployment = self.read_deployment(id).await?;
        let schedule = deployment
            .schedules
            .iter_mut()
            .find(|s| s.id == schedule_id)
            .ok_or(Error::NotFound { kind: "Schedule" })?;
        if let Some(value) = update.schedule {
            schedule.schedule = value;
        }
        if let Some(active) = update.active {
            schedule.active = active;
        }
        if update.max_scheduled_runs.is_some() {
            schedule.max_scheduled_runs = update.max_scheduled_runs;
        }
        if let Some(parameters) = update.parameters {
            schedule.parameters = parameters;
        }
        if update.slug.is_some() {
            schedule.slug = update.slug;
        }
        schedule.updated = Timestamp::now();
        self.write_deployment(&mut deployment).await
    }

    /// Removes one schedule of a deployment.
    pub async fn delete_deployment_schedule(&self, id: Uuid, schedule_id: Uuid) -> Result<()> {
        let mut deployment = self.read_deployment(id).await?;
        let before = deployment.schedules.len();
        deployment.schedules.retain(|s| s.id != schedule_id);
        if deployment.schedules.len() == before {
            return Err(Error::NotFound { kind: "Schedule" });
        }
        self.write_deployment(&mut deployment).await
    }

    /// Pauses or resumes a deployment.
    pub async fn set_deployment_paused(&self, id: Uuid, paused: bool) -> Result<()> {
        let mut deployment = self.read_deployment(id).await?;
        deployment.paused = paused;
        self.write_deployment(&mut deployment).await
    }

    /// Creates a flow run of a deployment: SCHEDULED for now unless a state is given, with the
    /// deployment's parameters, tags and job variables under the request's. The flag is `false`
    /// when the idempotency key matched an existing run, which is returned instead.
    pub async fn create_deployment_flow_run(
        &self,
        id: Uuid,
        request: DeploymentFlowRunCreate,
    ) -> Result<(FlowRun, bool)> {
        let deployment = self.read_deployment(id).await?;
        let mut parameters = deployment.parameters.clone();
        parameters.extend(request.parameters);
        let enforce = request
            .enforce_parameter_schema
            .unwrap_or(deployment.enforce_parameter_schema);
        if enforce {
            check_parameters(deployment.parameter_openapi_schema.as_ref(), &parameters)?;
        }
        let job_variables = request.job_variables.unwrap_or_default();
        let queue_name = request
            .work_queue_name
            .or_else(|| deployment.work_queue_name.clone());
        if let Some(pool_name) = &deployment.work_pool_name {
            let (pool, _) = self
                .resolve_work_queue(pool_name, queue_name.as_deref())
                .await?;
            let mut merged = deployment.job_variables.clone();
            merged.extend(job_variables.clone());
            check_job_variables(&pool, &merged, JobVariablesCheck::FLOW_RUN)?;
        }
        let mut tags = deployment.tags.clone();
        for tag in request.tags {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let state = request.state.unwrap_or_else(|| {
            let mut scheduled = StateCreate::of_type(StateType::Scheduled);
            scheduled.state_details.scheduled_time = Some(Timestamp::now());
            scheduled
        });
        let mut labels = deployment.labels.clone();
        labels.extend(request.labels.unwrap_or_default());
        labels.insert("prefect.deployment.id".into(), Value::from(id.to_string()));
        let create = FlowRunCreate {
            state: Some(state),
            name: request.name,
            flow_version: deployment.version.clone(),
            parameters,
            context: request.context,
            parent_task_run_id: request.parent_task_run_id,
            infrastructure_document_id: request
                .infrastructure_document_id
                .or(deployment.infrastructure_document_id),
            empirical_policy: request.empirical_policy.unwrap_or_default(),
            tags,
            labels: Some(labels),
            idempotency_key: request.idempotency_key,
            work_pool_name: deployment.work_pool_name.clone(),
            work_queue_name: queue_name,
            job_variables: Some(job_variables),
            deployment_id: Some(id),
            ..FlowRunCreate::for_flow(deployment.flow_id)
        };
        self.create_flow_run(create).await
    }
}

/// Checks each schedule (a 422 names it, e.g. `schedules.0.schedule.cron`) and fills what
/// Prefect fills on create (an interval's `anchor_date`).
fn checked_schedules(
    schedules: Vec<DeploymentScheduleCreate>,
    now: Timestamp,
) -> Result<Vec<DeploymentScheduleCreate>> {
    schedules
        .into_iter()
        .enumerate()
        .map(|(index, mut create)| {
            let parsed: Schedule =
                serde_json::from_value(create.schedule.clone()).map_err(|e| {
                    Error::Invalid(format!(
                        "schedules.{index}.schedule: not an interval, cron or rrule schedule ({e})"
                    ))
                })?;
            let parsed = parsed.normalized(now);
            parsed.validate().map_err(|e| {
                Error::Invalid(format!("schedules.{index}.schedule.{}: {e}", e.field()))
            })?;
            validate_max_scheduled_runs(
                create.max_scheduled_runs,
                DEFAULT_MAX_SCHEDULED_RUNS_LIMIT,
            )
            .map_err(|e| Error::Invalid(format!("schedules.{index}.max_scheduled_runs: {e}")))?;
            create.schedule = serde_json::to_value(parsed)?;
            Ok(create)
        })
        .collect()
}

fn new_schedule(
    deployment_id: Uuid,
    create: DeploymentScheduleCreate,
    now: Timestamp,
) -> DeploymentSchedule {
    DeploymentSchedule {
        id: Uuid::new_v4(),
        created: now,
        updated: now,
        deployment_id: Some(deployment_id),
        schedule: create.schedule,
        active: create.active,
        max_scheduled_runs: create.max_scheduled_runs,
        parameters: create.parameters,
        slug: create.slug,
    }
}

/// Job variables checked against the pool's base job template; the 422 names the variable.
fn check_job_variables(
    pool: &WorkPool,
    job_variables: &JsonObject,
    check: JobVariablesCheck,
) -> Result<()> {
    let template: BaseJobTemplate =
        serde_json::from_value(Value::Object(pool.base_job_template.clone())).unwrap_or_default();
    validate_job_variables(&template, job_variables, check)
        .map_err(|e| Error::Invalid(e.to_string()))
}

/// Parameters checked against a deployment's parameter schema (required ones present, types
/// right); undeclared parameters pass, as in Prefect.
pub(crate) fn check_parameters(schema: Option<&Value>, parameters: &JsonObject) -> Result<()> {
    let Some(schema) = schema.filter(|s| s.get("properties").is_some()) else {
        return Ok(());
    };
    let template = BaseJobTemplate {
        job_configuration: Value::Null,
        variables: schema.clone(),
    };
    let check = JobVariablesCheck {
        required: true,
        reject_unknown: false,
    };
    validate_job_variables(&template, parameters, check).map_err(|e| {
        let text = e.to_string();
        let text = text
            .strip_prefix("job_variables")
            .map_or(text.clone(), |rest| format!("parameters{rest}"));
        Error::Invalid(text)
    })
}
