//! Work pools, their queues and workers, and the poll that hands scheduled runs to workers.
//!
//! Pools and queues are few and change rarely, so they are plain rows written directly (not
//! through the group-commit writer) and filtered in memory. Statuses are computed on read from
//! the stored facts (see `weir_core::work_pools`). The poll is the hot path: one indexed query
//! per queue, in priority order, within the free slots of the queue's and the pool's limits.

use crate::db::on_pool;
use crate::{Error, Result, Store};
use uuid::Uuid;
use weir_core::schemas::FlowRun;
use weir_core::work_pools::{
    pool_status, queue_status, worker_status, ScheduledRunsRequest, WorkPool, WorkPoolCreate,
    WorkPoolStatus, WorkPoolUpdate, WorkQueue, WorkQueueCreate, WorkQueueStatus, WorkQueueUpdate,
    Worker, WorkerFlowRun, WorkerStatus, DEFAULT_QUEUE,
};
use weir_core::Timestamp;

/// States in which a run holds one of its queue's and pool's concurrency slots.
const ACTIVE_STATES: &str = "('PENDING', 'RUNNING', 'CANCELLING')";

impl Store {
    /// Creates a pool with its `default` queue. A name already in use is a conflict.
    pub async fn create_work_pool(&self, create: WorkPoolCreate) -> Result<WorkPool> {
        check_name("name", &create.name)?;
        check_limit(create.concurrency_limit)?;
        if self.work_pool_row(&create.name).await?.is_some() {
            return Err(Error::Conflict(format!(
                "A work pool named {:?} already exists.",
                create.name
            )));
        }
        let now = Timestamp::now();
        let mut pool = WorkPool {
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            name: create.name,
            description: create.description,
            pool_type: create.pool_type,
            base_job_template: create.base_job_template,
            is_paused: create.is_paused,
            concurrency_limit: create.concurrency_limit,
            status: None,
            default_queue_id: None,
            storage_configuration: create.storage_configuration,
        };
        let queue = self.new_queue(
            &pool,
            WorkQueueCreate {
                name: DEFAULT_QUEUE.to_owned(),
                description: Some("The work pool's default queue.".to_owned()),
                is_paused: false,
                concurrency_limit: None,
                priority: Some(1),
                filter: None,
            },
            1,
        );
        pool.default_queue_id = Some(queue.id);
        on_pool!(&self.db, pool_ => sqlx::query(
            "INSERT INTO work_pool (id, name, created, updated, doc) VALUES ($1, $2, $3, $4, $5)")
            .bind(pool.id.to_string())
            .bind(&pool.name)
            .bind(now.to_canonical())
            .bind(now.to_canonical())
            .bind(serde_json::to_string(&pool)?)
            .execute(pool_).await.map(|r| r.rows_affected()))?;
        self.insert_queue(&queue).await?;
        self.with_pool_status(pool).await
    }

    async fn work_pool_row(&self, name: &str) -> Result<Option<WorkPool>> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM work_pool WHERE name = $1")
            .bind(name).fetch_optional(pool).await)?;
        row.map(|(doc,)| serde_json::from_str(&doc).map_err(Error::from))
            .transpose()
    }

    /// The pool named `name`, with its status.
    pub async fn read_work_pool(&self, name: &str) -> Result<WorkPool> {
        let pool = self
            .work_pool_row(name)
            .await?
            .ok_or(Error::NotFound { kind: "Work pool" })?;
        self.with_pool_status(pool).await
    }

    /// The pool with this id (without status).
    pub async fn read_work_pool_by_id(&self, id: Uuid) -> Result<WorkPool> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM work_pool WHERE id = $1")
            .bind(id.to_string()).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(Error::NotFound { kind: "Work pool" })?;
        Ok(serde_json::from_str(&doc)?)
    }

    /// Every pool, by name, with statuses.
    pub async fn list_work_pools(&self) -> Result<Vec<WorkPool>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM work_pool ORDER BY name").fetch_all(pool).await)?;
        let mut pools = Vec::with_capacity(rows.len());
        for (doc,) in rows {
            pools.push(self.with_pool_status(serde_json::from_str(&doc)?).await?);
        }
        Ok(pools)
    }

    async fn with_pool_status(&self, mut pool: WorkPool) -> Result<WorkPool> {
        let online = self
            .list_workers(pool.id)
            .await?
            .iter()
            .any(|w| w.status == WorkerStatus::Online);
        pool.status = Some(pool_status(pool.is_paused, online));
        Ok(pool)
    }

    /// Applies an update to the pool named `name`.
    pub async fn update_work_pool(&self, name: &str, update: WorkPoolUpdate) -> Result<WorkPool> {
        let mut pool = self
            .work_pool_row(name)
            .await?
            .ok_or(Error::NotFound { kind: "Work pool" })?;
        if let Some(description) = update.description {
            pool.description = description;
        }
        if let Some(paused) = update.is_paused {
            pool.is_paused = paused;
        }
        if let Some(template) = update.base_job_template {
            pool.base_job_template = template;
        }
        if let Some(limit) = update.concurrency_limit {
            check_limit(limit)?;
            pool.concurrency_limit = limit;
        }
        if let Some(storage) = update.storage_configuration {
            pool.storage_configuration = storage;
        }
        pool.updated = Timestamp::now();
        pool.status = None;
        on_pool!(&self.db, pool_ => sqlx::query(
            "UPDATE work_pool SET updated = $1, doc = $2 WHERE id = $3")
            .bind(pool.updated.to_canonical())
            .bind(serde_json::to_string(&pool)?)
            .bind(pool.id.to_string())
            .execute(pool_).await.map(|r| r.rows_affected()))?;
        self.with_pool_status(pool).await
    }

    /// Deletes a pool with its queues and workers. Its runs keep their history.
    pub async fn delete_work_pool(&self, name: &str) -> Result<()> {
        let pool = self
            .work_pool_row(name)
            .await?
            .ok_or(Error::NotFound { kind: "Work pool" })?;
        let id = pool.id.to_string();
        for sql in [
            "DELETE FROM worker WHERE work_pool_id = $1",
            "DELETE FROM work_queue WHERE work_pool_id = $1",
            "DELETE FROM work_pool WHERE id = $1",
        ] {
            on_pool!(&self.db, pool_ => sqlx::query(sql).bind(&id).execute(pool_).await.map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    fn new_queue(&self, pool: &WorkPool, create: WorkQueueCreate, priority: i64) -> WorkQueue {
        let now = Timestamp::now();
        WorkQueue {
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            name: create.name,
            description: create.description,
            is_paused: create.is_paused,
            concurrency_limit: create.concurrency_limit,
            priority,
            work_pool_id: Some(pool.id),
            filter: create.filter,
            last_polled: None,
            work_pool_name: Some(pool.name.clone()),
            status: None,
        }
    }

    async fn insert_queue(&self, queue: &WorkQueue) -> Result<()> {
        let pool_id = queue.work_pool_id.map(|id| id.to_string());
        on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO work_queue (id, work_pool_id, name, priority, created, updated, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(queue.id.to_string())
            .bind(pool_id)
            .bind(&queue.name)
            .bind(queue.priority)
            .bind(queue.created.to_canonical())
            .bind(queue.updated.to_canonical())
            .bind(serde_json::to_string(queue)?)
            .execute(pool).await.map(|r| r.rows_affected()))
        .map_err(|e| match Error::from(e) {
            Error::Conflict(_) => Error::Conflict(format!(
                "A work queue named {:?} already exists in this pool.",
                queue.name
            )),
            other => other,
        })?;
        Ok(())
    }

    /// Adds a queue to the pool named `pool_name`: last in priority by default; given a priority,
    /// it takes that place and the queues at or below it move down one (as Prefect does).
    pub async fn create_work_queue(
        &self,
        pool_name: &str,
        create: WorkQueueCreate,
    ) -> Result<WorkQueue> {
        check_name("name", &create.name)?;
        check_limit(create.concurrency_limit)?;
        let pool = self.read_work_pool(pool_name).await?;
        let queues = self.list_work_queues(pool.id).await?;
        let priority = match create.priority {
            Some(p) if p < 1 => {
                return Err(Error::Invalid("priority: must be 1 or more".into()));
            }
            Some(p) => {
                // Priorities stay distinct: the new queue goes in at `p`, the others move down.
                for mut queue in queues.into_iter().filter(|q| q.priority >= p) {
                    queue.priority += 1;
                    self.write_queue(&mut queue).await?;
                }
                p
            }
            None => queues.iter().map(|q| q.priority).max().unwrap_or(0) + 1,
        };
        let queue = self.new_queue(&pool, create, priority);
        self.insert_queue(&queue).await?;
        Ok(self.with_queue_status(queue, pool.is_paused))
    }

    /// The queues of a pool, by priority, with statuses.
    pub async fn list_work_queues(&self, pool_id: Uuid) -> Result<Vec<WorkQueue>> {
        let pool = self.read_work_pool_by_id(pool_id).await?;
        let rows: Vec<(String,)> = on_pool!(read &self.db, p => sqlx::query_as(
            "SELECT doc FROM work_queue WHERE work_pool_id = $1 ORDER BY priority, name")
            .bind(pool_id.to_string()).fetch_all(p).await)?;
        rows.into_iter()
            .map(|(doc,)| {
                let queue: WorkQueue = serde_json::from_str(&doc)?;
                Ok(self.with_queue_status(queue, pool.is_paused))
            })
            .collect()
    }

    /// The queue `queue_name` of the pool `pool_name`.
    pub async fn read_work_queue_by_name(
        &self,
        pool_name: &str,
        queue_name: &str,
    ) -> Result<WorkQueue> {
        let pool = self.read_work_pool(pool_name).await?;
        self.list_work_queues(pool.id)
            .await?
            .into_iter()
            .find(|q| q.name == queue_name)
            .ok_or(Error::NotFound { kind: "Work queue" })
    }

    /// The queue with this id.
    pub async fn read_work_queue(&self, id: Uuid) -> Result<WorkQueue> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM work_queue WHERE id = $1")
            .bind(id.to_string()).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(Error::NotFound { kind: "Work queue" })?;
        let queue: WorkQueue = serde_json::from_str(&doc)?;
        let pool_paused = match queue.work_pool_id {
            Some(pool) => self.read_work_pool_by_id(pool).await?.is_paused,
            None => false,
        };
        Ok(self.with_queue_status(queue, pool_paused))
    }

    /// Applies an update to the queue with this id.
    pub async fn update_work_queue(&self, id: Uuid, update: WorkQueueUpdate) -> Result<WorkQueue> {
        let mut queue = self.read_work_queue(id).await?;
        if let Some(name) = update.name {
            check_name("name", &name)?;
            queue.name = name;
        }
        if let Some(description) = update.description {
            queue.description = description;
        }
        if let Some(paused) = update.is_paused {
            queue.is_paused = paused;
        }
        if let Some(limit) = update.concurrency_limit {
            check_limit(limit)?;
            queue.concurrency_limit = limit;
        }
        if let Some(priority) = update.priority {
            if priority < 1 {
                return Err(Error::Invalid("priority: must be 1 or more".into()));
            }
            queue.priority = priority;
        }
        if update.last_polled.is_some() {
            queue.last_polled = update.last_polled;
        }
        if update.filter.is_some() {
            queue.filter = update.filter;
        }
        self.write_queue(&mut queue).await?;
        self.read_work_queue(id).await
    }

    async fn write_queue(&self, queue: &mut WorkQueue) -> Result<()> {
        queue.updated = Timestamp::now();
        queue.status = None;
        on_pool!(&self.db, pool => sqlx::query(
            "UPDATE work_queue SET name = $1, priority = $2, updated = $3, doc = $4 WHERE id = $5")
            .bind(&queue.name)
            .bind(queue.priority)
            .bind(queue.updated.to_canonical())
            .bind(serde_json::to_string(&*queue)?)
            .bind(queue.id.to_string())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes a queue; a pool's default queue cannot be deleted.
    pub async fn delete_work_queue(&self, id: Uuid) -> Result<()> {
        let queue = self.read_work_queue(id).await?;
        if let Some(pool) = queue.work_pool_id {
            let pool = self.read_work_pool_by_id(pool).await?;
            if pool.default_queue_id == Some(id) {
                return Err(Error::Invalid(
                    "Deleting a work pool's default queue is not allowed.".into(),
                ));
            }
        }
        on_pool!(&self.db, pool => sqlx::query("DELETE FROM work_queue WHERE id = $1")
            .bind(id.to_string()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records a heartbeat of the worker `name` of the pool `pool_name`; returns the worker's id,
    /// and whether the pool was NOT_READY before (this heartbeat may have made it READY).
    pub async fn worker_heartbeat(
        &self,
        pool_name: &str,
        name: &str,
        interval_seconds: Option<i64>,
    ) -> Result<(Uuid, bool)> {
        check_name("name", name)?;
        let pool = self.read_work_pool(pool_name).await?;
        let now = Timestamp::now().to_canonical();
        let row: (String,) = on_pool!(&self.db, p => sqlx::query_as(
            "INSERT INTO worker (id, work_pool_id, name, last_heartbeat_time, \
             heartbeat_interval_seconds, created) VALUES ($1, $2, $3, $4, $5, $4) \
             ON CONFLICT (work_pool_id, name) DO UPDATE SET \
             last_heartbeat_time = excluded.last_heartbeat_time, \
             heartbeat_interval_seconds = excluded.heartbeat_interval_seconds \
             RETURNING id")
            .bind(Uuid::new_v4().to_string())
            .bind(pool.id.to_string())
            .bind(name)
            .bind(&now)
            .bind(interval_seconds)
            .fetch_one(p).await)?;
        let id = row
            .0
            .parse()
            .map_err(|_| Error::Invalid("stored worker id is not a UUID".into()))?;
        Ok((id, pool.status == Some(WorkPoolStatus::NotReady)))
    }

    /// The workers of a pool, most recently heard from first.
    pub async fn list_workers(&self, pool_id: Uuid) -> Result<Vec<Worker>> {
        let rows: Vec<(String, String, String, Option<i64>, String)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT id, name, last_heartbeat_time, heartbeat_interval_seconds, created \
             FROM worker WHERE work_pool_id = $1 ORDER BY last_heartbeat_time DESC")
            .bind(pool_id.to_string()).fetch_all(pool).await)?;
        let now = Timestamp::now();
        rows.into_iter()
            .map(|(id, name, heartbeat, interval, created)| {
                let heartbeat: Timestamp = parse(&heartbeat)?;
                let created: Timestamp = parse(&created)?;
                Ok(Worker {
                    id: parse(&id)?,
                    created,
                    updated: heartbeat,
                    name,
                    work_pool_id: pool_id,
                    last_heartbeat_time: Some(heartbeat),
                    heartbeat_interval_seconds: interval,
                    status: worker_status(Some(heartbeat), interval, now, &self.status_timeouts),
                })
            })
            .collect()
    }

    /// `queue` with its status, its pool being paused or not.
    fn with_queue_status(&self, mut queue: WorkQueue, pool_paused: bool) -> WorkQueue {
        queue.status = Some(queue_status(
            queue.is_paused,
            pool_paused,
            queue.last_polled,
            Timestamp::now(),
            &self.status_timeouts,
        ));
        queue
    }

    /// Forgets the worker `name` of a pool.
    pub async fn delete_worker(&self, pool_name: &str, name: &str) -> Result<()> {
        let pool = self.read_work_pool(pool_name).await?;
        let deleted = on_pool!(&self.db, p => sqlx::query(
            "DELETE FROM worker WHERE work_pool_id = $1 AND name = $2")
            .bind(pool.id.to_string()).bind(name)
            .execute(p).await.map(|r| r.rows_affected()))?;
        if deleted == 0 {
            return Err(Error::NotFound { kind: "Worker" });
        }
        Ok(())
    }

    /// The runs a worker of `pool_name` should start now: SCHEDULED runs due before
    /// `scheduled_before` from the pool's unpaused queues (all, or those named), higher-priority
    /// queues first, each queue within its free concurrency slots and all within the pool's. Marks
    /// the polled queues as polled. Also says whether a polled queue was NOT_READY before (this
    /// poll made it READY).
    pub async fn scheduled_runs_for_workers(
        &self,
        pool_name: &str,
        request: &ScheduledRunsRequest,
    ) -> Result<(Vec<WorkerFlowRun>, bool)> {
        let pool = self.read_work_pool(pool_name).await?;
        let now = Timestamp::now();
        let mut queues = self.list_work_queues(pool.id).await?;
        // No names, or an empty list, means every queue of the pool (as in Prefect).
        if let Some(names) = request.work_queue_names.as_ref().filter(|n| !n.is_empty()) {
            queues.retain(|q| names.contains(&q.name));
        }
        let readied = queues
            .iter()
            .any(|q| q.status == Some(WorkQueueStatus::NotReady));
        for queue in &mut queues {
            queue.last_polled = Some(now);
            self.write_queue(queue).await?;
        }
        if pool.is_paused {
            return Ok((Vec::new(), readied));
        }
        let mut budget = request.limit.unwrap_or(i64::MAX).max(0);
        if let Some(limit) = pool.concurrency_limit {
            let active = self.count_active("work_pool_id", pool.id).await?;
            budget = budget.min((limit - active).max(0));
        }
        let before = request.scheduled_before.unwrap_or(now).to_canonical();
        let after = request.scheduled_after.map(|t| t.to_canonical());
        let mut runs = Vec::new();
        for queue in queues.iter().filter(|q| !q.is_paused) {
            if budget == 0 {
                break;
            }
            let mut take = budget;
            if let Some(limit) = queue.concurrency_limit {
                let active = self.count_active("work_queue_id", queue.id).await?;
                take = take.min((limit - active).max(0));
            }
            if take == 0 {
                continue;
            }
            let found = self
                .due_runs(queue.id, &before, after.as_deref(), take)
                .await?;
            budget -= found.len() as i64;
            runs.extend(found.into_iter().map(|flow_run| WorkerFlowRun {
                work_pool_id: pool.id,
                work_queue_id: queue.id,
                flow_run,
            }));
        }
        Ok((runs, readied))
    }

    async fn count_active(&self, column: &str, id: Uuid) -> Result<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM flow_run WHERE {column} = $1 AND state_type IN {ACTIVE_STATES}"
        );
        let (count,): (i64,) = on_pool!(read &self.db, pool => sqlx::query_as(&sql)
            .bind(id.to_string()).fetch_one(pool).await)?;
        Ok(count)
    }

    async fn due_runs(
        &self,
        queue: Uuid,
        before: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FlowRun>> {
        let sql = format!(
            "SELECT doc FROM flow_run WHERE work_queue_id = $1 AND state_type = 'SCHEDULED' \
             AND next_scheduled_start_time <= $2 {} ORDER BY next_scheduled_start_time LIMIT {}",
            if after.is_some() {
                "AND next_scheduled_start_time >= $3"
            } else {
                ""
            },
            limit.min(10_000)
        );
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => {
            let query = sqlx::query_as(&sql).bind(queue.to_string()).bind(before);
            match after {
                Some(after) => query.bind(after).fetch_all(pool).await,
                None => query.fetch_all(pool).await,
            }
        })?;
        rows.into_iter()
            .map(|(doc,)| Ok(serde_json::from_str(&doc)?))
            .collect()
    }

    /// The pool and queue ids for a run sent to `pool_name` (and `queue_name`, else the pool's
    /// default queue).
    pub async fn resolve_work_queue(
        &self,
        pool_name: &str,
        queue_name: Option<&str>,
    ) -> Result<(WorkPool, WorkQueue)> {
        let pool = self.read_work_pool(pool_name).await.map_err(|e| match e {
            Error::NotFound { .. } => {
                Error::Invalid(format!("work_pool_name: work pool {pool_name:?} not found"))
            }
            other => other,
        })?;
        let queues = self.list_work_queues(pool.id).await?;
        let queue = match queue_name {
            Some(name) => queues.into_iter().find(|q| q.name == name).ok_or_else(|| {
                Error::Invalid(format!(
                    "work_queue_name: work pool {pool_name:?} has no queue {name:?}"
                ))
            })?,
            None => queues
                .into_iter()
                .find(|q| Some(q.id) == pool.default_queue_id)
                .ok_or(Error::NotFound { kind: "Work queue" })?,
        };
        Ok((pool, queue))
    }
}

fn check_name(field: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::Invalid(format!("{field}: must not be empty")));
    }
    if name.contains('/') || name.contains('%') {
        return Err(Error::Invalid(format!(
            "{field}: {name:?} must not contain '/' or '%'"
        )));
    }
    Ok(())
}

fn check_limit(limit: Option<i64>) -> Result<()> {
    match limit {
        Some(n) if n < 0 => Err(Error::Invalid(
            "concurrency_limit: must be 0 or more".into(),
        )),
        _ => Ok(()),
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> Result<T> {
    text.parse()
        .map_err(|_| Error::Invalid(format!("stored value {text:?} is malformed")))
}
