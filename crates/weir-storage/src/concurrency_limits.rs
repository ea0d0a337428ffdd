//! Global concurrency limits (v2): create (names are unique), read, page, update and delete by id
//! or name, and the slot accounting of `/increment` and `/decrement`. Tag limits (v1) are global
//! limits named `tag:{tag}`, as in Prefect 3.9.1, whose slots are held by task runs recorded in
//! `concurrency_slot_holder` (Prefect's leases): taken when a run enters RUNNING, given back when
//! it leaves.
//!
//! Every change of a limit's counters happens in one transaction that first reads the limits with
//! a lock — `SELECT ... FOR UPDATE` in id order on PostgreSQL, the single writer connection on
//! SQLite — so concurrent increments cannot lose updates or overfill a limit. The accounting
//! itself is `weir_core::concurrency_limits`.

use crate::concurrency_leases::insert_lease;
use crate::db::{on_pool, Backend};
use crate::{Error, Result, Store};
use uuid::Uuid;
use weir_core::concurrency_leases::ConcurrencyLease;
use weir_core::concurrency_limits::{
    acquire, deny, release, tag_limit_name, AcquireError, ConcurrencyLimit, ConcurrencyLimitCreate,
    ConcurrencyLimitV2, ConcurrencyLimitV2Create, ConcurrencyLimitV2Update, SlotMode,
};
use weir_core::deployments::Deployment;
use weir_core::orchestration::flow::secure_flow_concurrency_slots;
use weir_core::orchestration::task::{secure_task_concurrency_slots, TagSlots};
use weir_core::orchestration::Decision;
use weir_core::Timestamp;

const NOT_FOUND: Error = Error::NotFound {
    kind: "Concurrency Limit",
};

/// The 404 of the v1 (tag) API, worded as Prefect's.
const V1_NOT_FOUND: Error = Error::NotFound {
    kind: "Concurrency limit",
};

fn v1_not_found(err: Error) -> Error {
    match err {
        Error::NotFound { .. } => V1_NOT_FOUND,
        other => other,
    }
}

fn taken(name: &str) -> Error {
    Error::Conflict(format!(
        "A concurrency limit with the name {name:?} already exists."
    ))
}

/// A limit named in a path: `/v2/concurrency_limits/{id_or_name}` takes either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitKey {
    Id(Uuid),
    Name(String),
}

impl LimitKey {
    /// A UUID is an id, anything else a name (as Prefect reads the path).
    pub fn parse(text: &str) -> LimitKey {
        Uuid::parse_str(text).map_or_else(|_| LimitKey::Name(text.to_owned()), LimitKey::Id)
    }

    fn column_and_value(&self) -> (&'static str, String) {
        match self {
            LimitKey::Id(id) => ("id", id.to_string()),
            LimitKey::Name(name) => ("name", name.clone()),
        }
    }
}

/// The outcome of `/increment`.
#[derive(Clone, Debug, PartialEq)]
pub enum Increment {
    /// Slots taken (inactive limits included in the list, untouched).
    Acquired(Vec<ConcurrencyLimitV2>),
    /// Some limit lacked room; nothing taken. Retry after this many seconds.
    Locked { retry_after: f64 },
}

/// The rows' lock suffix: PostgreSQL locks them; SQLite's single writer already serialises.
pub(crate) fn for_update(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " ORDER BY id FOR UPDATE",
        Backend::Sqlite => " ORDER BY id",
    }
}

pub(crate) fn placeholders(count: usize) -> String {
    (1..=count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn decode(rows: Vec<(String,)>) -> Result<Vec<ConcurrencyLimitV2>> {
    rows.into_iter()
        .map(|(doc,)| Ok(serde_json::from_str(&doc)?))
        .collect()
}

/// Reads, locked, the limits whose `$column` ("id" or "name") is one of `$values` in the open
/// transaction `$tx` (on a backend `$backend`); `?` on failure.
macro_rules! lock_limits {
    ($backend:expr, $tx:ident, $column:literal, $values:expr) => {{
        let values = $values;
        let select = format!(
            "SELECT doc FROM concurrency_limit_v2 WHERE {} IN ({}){}",
            $column,
            $crate::concurrency_limits::placeholders(values.len()),
            $crate::concurrency_limits::for_update($backend)
        );
        let mut query = sqlx::query_as(&select);
        for value in values {
            query = query.bind(value);
        }
        let rows: Vec<(String,)> = query.fetch_all(&mut *$tx).await?;
        $crate::concurrency_limits::decode(rows)?
    }};
}
pub(crate) use lock_limits;

/// Writes the counters of `$limits` back in the open transaction `$tx`; `?` on failure.
macro_rules! write_limits {
    ($tx:ident, $limits:expr) => {
        for limit in $limits {
            sqlx::query("UPDATE concurrency_limit_v2 SET updated = $1, doc = $2 WHERE id = $3")
                .bind(limit.updated.to_canonical())
                .bind(serde_json::to_string(limit)?)
                .bind(limit.id.to_string())
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(crate) use write_limits;

impl Store {
    /// Creates a global concurrency limit; a name already in use is a conflict.
    pub async fn create_concurrency_limit_v2(
        &self,
        create: ConcurrencyLimitV2Create,
    ) -> Result<ConcurrencyLimitV2> {
        let limit = create.into_limit(Uuid::new_v4(), Timestamp::now());
        let inserted = on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO concurrency_limit_v2 (id, name, created, updated, doc) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING")
            .bind(limit.id.to_string())
            .bind(&limit.name)
            .bind(limit.created.to_canonical())
            .bind(limit.updated.to_canonical())
            .bind(serde_json::to_string(&limit)?)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if inserted == 0 {
            return Err(taken(&limit.name));
        }
        Ok(limit)
    }

    /// The limit with this id or name.
    pub async fn read_concurrency_limit_v2(&self, key: &LimitKey) -> Result<ConcurrencyLimitV2> {
        let (column, value) = key.column_and_value();
        let sql = format!("SELECT doc FROM concurrency_limit_v2 WHERE {column} = $1");
        let row: Option<(String,)> = on_pool!(read &self.db, pool =>
            sqlx::query_as(&sql).bind(&value).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(NOT_FOUND)?;
        Ok(serde_json::from_str(&doc)?)
    }

    /// A page of limits sorted by name.
    pub async fn page_concurrency_limits_v2(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ConcurrencyLimitV2>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM concurrency_limit_v2 ORDER BY name, id LIMIT $1 OFFSET $2")
            .bind(limit).bind(offset).fetch_all(pool).await)?;
        decode(rows)
    }

    /// Applies an update to the limit with this id or name.
    pub async fn update_concurrency_limit_v2(
        &self,
        key: &LimitKey,
        update: ConcurrencyLimitV2Update,
    ) -> Result<()> {
        let (column, value) = key.column_and_value();
        let select = format!(
            "SELECT doc FROM concurrency_limit_v2 WHERE {column} = $1{}",
            for_update(self.backend())
        );
        let outcome = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<(String,)> =
                sqlx::query_as(&select).bind(&value).fetch_optional(&mut *tx).await?;
            let Some((doc,)) = row else {
                return Err(NOT_FOUND);
            };
            let mut limit: ConcurrencyLimitV2 = serde_json::from_str(&doc)?;
            update.apply(&mut limit, Timestamp::now());
            let written = sqlx::query(
                "UPDATE concurrency_limit_v2 SET name = $1, updated = $2, doc = $3 WHERE id = $4")
                .bind(&limit.name)
                .bind(limit.updated.to_canonical())
                .bind(serde_json::to_string(&limit)?)
                .bind(limit.id.to_string())
                .execute(&mut *tx).await;
            match written {
                Ok(_) => { tx.commit().await?; Ok(()) }
                Err(e) => Err((e, limit.name)),
            }
        });
        match outcome {
            Ok(()) => Ok(()),
            Err((e, name)) => Err(match Error::from(e) {
                Error::Conflict(_) => taken(&name),
                other => other,
            }),
        }
    }

    /// Deletes the limit with this id or name.
    pub async fn delete_concurrency_limit_v2(&self, key: &LimitKey) -> Result<()> {
        let (column, value) = key.column_and_value();
        let holders = format!(
            "DELETE FROM concurrency_slot_holder WHERE limit_id IN \
             (SELECT id FROM concurrency_limit_v2 WHERE {column} = $1)"
        );
        let leases = format!(
            "DELETE FROM concurrency_lease_limit WHERE limit_id IN \
             (SELECT id FROM concurrency_limit_v2 WHERE {column} = $1)"
        );
        let sql = format!("DELETE FROM concurrency_limit_v2 WHERE {column} = $1");
        let deleted = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(&holders).bind(&value).execute(&mut *tx).await?;
            sqlx::query(&leases).bind(&value).execute(&mut *tx).await?;
            let done = sqlx::query(&sql).bind(&value).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(NOT_FOUND);
        }
        Ok(())
    }

    /// Takes `slots` on every active limit named, all or nothing, in one locked transaction. A
    /// refusal (more slots than a limit has, or `rate_limit` on a limit without decay) is
    /// [`Error::Invalid`]; a full limit records the denial and answers [`Increment::Locked`].
    pub async fn increment_concurrency_slots(
        &self,
        names: &[String],
        slots: i64,
        mode: SlotMode,
    ) -> Result<Increment> {
        let uniform: f64 = rand::random();
        self.with_locked_limits(names, |limits, now| {
            match acquire(limits, slots, mode, now) {
                Ok(true) => Ok((true, Increment::Acquired(limits.to_vec()))),
                Ok(false) => {
                    let retry_after = deny(limits, slots, now, uniform);
                    Ok((true, Increment::Locked { retry_after }))
                }
                Err(e @ (AcquireError::TooManySlots | AcquireError::NoDecay(_))) => {
                    Err(Error::Invalid(e.to_string()))
                }
            }
        })
        .await
    }

    /// Gives back `slots` on every active limit named (never below zero) and records how long they
    /// were held. Answers the limits found, inactive ones included.
    pub async fn decrement_concurrency_slots(
        &self,
        names: &[String],
        slots: i64,
        occupancy_seconds: Option<f64>,
    ) -> Result<Vec<ConcurrencyLimitV2>> {
        self.with_locked_limits(names, |limits, now| {
            release(limits, slots, occupancy_seconds, now);
            Ok((true, limits.to_vec()))
        })
        .await
    }

    /// Reads the limits named under a lock, lets `change` update them, and writes them in the
    /// same transaction.
    async fn with_locked_limits<T>(
        &self,
        names: &[String],
        change: impl FnOnce(&mut [ConcurrencyLimitV2], Timestamp) -> Result<(bool, T)>,
    ) -> Result<T> {
        self.with_locked_holders(names, false, |limits, _, now| {
            let (_, answer) = change(limits, now)?;
            Ok((answer, Vec::new()))
        })
        .await
    }

    /// Like [`Store::with_locked_limits`], with the holders of the limits (when `holders`) and
    /// the holder rows `change` adds or removes, written in the same transaction.
    pub(crate) async fn with_locked_holders<T>(
        &self,
        names: &[String],
        holders: bool,
        change: impl FnOnce(
            &mut [ConcurrencyLimitV2],
            &[Holder],
            Timestamp,
        ) -> Result<(T, Vec<HolderEdit>)>,
    ) -> Result<T> {
        if names.is_empty() {
            return change(&mut [], &[], Timestamp::now()).map(|(t, _)| t);
        }
        let backend = self.backend();
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let mut limits = lock_limits!(backend, tx, "name", names);
            let mut held = Vec::new();
            if holders && !limits.is_empty() {
                let sql = format!(
                    "SELECT limit_id, holder_id, created FROM concurrency_slot_holder \
                     WHERE limit_id IN ({}) ORDER BY created, holder_id",
                    placeholders(limits.len())
                );
                let mut query = sqlx::query_as(&sql);
                for limit in &limits {
                    query = query.bind(limit.id.to_string());
                }
                let rows: Vec<(String, String, String)> = query.fetch_all(&mut *tx).await?;
                held = rows.into_iter().filter_map(Holder::from_row).collect();
            }
            let (answer, edits) = change(&mut limits, &held, Timestamp::now())?;
            write_limits!(tx, &limits);
            for edit in edits {
                let query = match &edit {
                    HolderEdit::AddLease(lease) => {
                        insert_lease!(tx, lease);
                        continue;
                    }
                    HolderEdit::Add { limit_id, holder_id, at } => sqlx::query(
                        "INSERT INTO concurrency_slot_holder (limit_id, holder_id, created) \
                         VALUES ($1, $2, $3) ON CONFLICT (limit_id, holder_id) DO NOTHING")
                        .bind(limit_id.to_string()).bind(holder_id.to_string()).bind(at.to_canonical()),
                    HolderEdit::Remove { limit_id, holder_id } => sqlx::query(
                        "DELETE FROM concurrency_slot_holder WHERE limit_id = $1 AND holder_id = $2")
                        .bind(limit_id.to_string()).bind(holder_id.to_string()),
                    HolderEdit::Clear { limit_id } => sqlx::query(
                        "DELETE FROM concurrency_slot_holder WHERE limit_id = $1")
                        .bind(limit_id.to_string()),
                };
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(answer)
        })
    }

    /// The holders of each limit, oldest first: task runs holding a slot row, and task runs
    /// holding a lease on it.
    async fn holders_of(&self, limits: &[ConcurrencyLimitV2]) -> Result<Vec<Vec<Uuid>>> {
        if limits.is_empty() {
            return Ok(Vec::new());
        }
        let ids = placeholders(limits.len());
        let sql = format!(
            "SELECT limit_id, holder_id, created FROM concurrency_slot_holder \
             WHERE limit_id IN ({ids}) \
             UNION SELECT ll.limit_id, l.holder_id, l.created FROM concurrency_lease_limit ll \
             JOIN concurrency_lease l ON l.id = ll.lease_id \
             WHERE l.holder_type = 'task_run' AND ll.limit_id IN ({ids}) \
             ORDER BY 3, 2"
        );
        let rows: Vec<(String, String, String)> = on_pool!(read &self.db, pool => {
            let mut query = sqlx::query_as(&sql);
            for limit in limits {
                query = query.bind(limit.id.to_string());
            }
            query.fetch_all(pool).await
        })?;
        let held: Vec<Holder> = rows.into_iter().filter_map(Holder::from_row).collect();
        Ok(limits
            .iter()
            .map(|l| {
                let mut ids: Vec<Uuid> = Vec::new();
                for holder in held.iter().filter(|h| h.limit_id == l.id) {
                    if !ids.contains(&holder.holder_id) {
                        ids.push(holder.holder_id);
                    }
                }
                ids
            })
            .collect())
    }

    async fn tag_view(&self, limit: ConcurrencyLimitV2) -> Result<ConcurrencyLimit> {
        let holders = self.holders_of(std::slice::from_ref(&limit)).await?;
        ConcurrencyLimit::from_v2(&limit, holders.into_iter().next().unwrap_or_default())
            .ok_or(V1_NOT_FOUND)
    }

    /// Creates the limit of a tag (`true`) or sets the limit of the existing one (`false`).
    pub async fn upsert_tag_limit(
        &self,
        create: ConcurrencyLimitCreate,
    ) -> Result<(ConcurrencyLimit, bool)> {
        let name = tag_limit_name(&create.tag);
        let key = LimitKey::Name(name.clone());
        for _ in 0..3 {
            let update = ConcurrencyLimitV2Update {
                limit: Some(create.concurrency_limit),
                ..Default::default()
            };
            match self.update_concurrency_limit_v2(&key, update).await {
                Ok(()) => {
                    let limit = self.read_concurrency_limit_v2(&key).await?;
                    return Ok((self.tag_view(limit).await?, false));
                }
                Err(Error::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
            let v2 = ConcurrencyLimitV2Create {
                active: true,
                name: name.clone(),
                limit: create.concurrency_limit,
                active_slots: 0,
                denied_slots: 0,
                slot_decay_per_second: 0.0,
            };
            match self.create_concurrency_limit_v2(v2).await {
                Ok(limit) => return Ok((self.tag_view(limit).await?, true)),
                // Created concurrently: update it instead.
                Err(Error::Conflict(_)) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Error::Conflict(format!(
            "the limit of tag {:?} changed concurrently; retry",
            create.tag
        )))
    }

    /// The limit of a tag found by its id.
    pub async fn read_tag_limit_by_id(&self, id: Uuid) -> Result<ConcurrencyLimit> {
        let limit = self
            .read_concurrency_limit_v2(&LimitKey::Id(id))
            .await
            .map_err(v1_not_found)?;
        self.tag_view(limit).await
    }

    /// The limit of a tag.
    pub async fn read_tag_limit(&self, tag: &str) -> Result<ConcurrencyLimit> {
        let limit = self
            .read_concurrency_limit_v2(&LimitKey::Name(tag_limit_name(tag)))
            .await
            .map_err(v1_not_found)?;
        self.tag_view(limit).await
    }

    /// A page of tag limits sorted by tag.
    pub async fn page_tag_limits(&self, limit: i64, offset: i64) -> Result<Vec<ConcurrencyLimit>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM concurrency_limit_v2 WHERE name LIKE 'tag:%' \
             ORDER BY name, id LIMIT $1 OFFSET $2")
            .bind(limit).bind(offset).fetch_all(pool).await)?;
        let limits = decode(rows)?;
        let holders = self.holders_of(&limits).await?;
        Ok(limits
            .iter()
            .zip(holders)
            .filter_map(|(l, h)| ConcurrencyLimit::from_v2(l, h))
            .collect())
    }

    /// Deletes the limit of a tag.
    pub async fn delete_tag_limit(&self, tag: &str) -> Result<()> {
        self.delete_concurrency_limit_v2(&LimitKey::Name(tag_limit_name(tag)))
            .await
            .map_err(v1_not_found)
    }

    /// Deletes a limit by id through the v1 API.
    pub async fn delete_tag_limit_by_id(&self, id: Uuid) -> Result<()> {
        self.delete_concurrency_limit_v2(&LimitKey::Id(id))
            .await
            .map_err(v1_not_found)
    }

    /// Frees every slot of a tag's limit, then gives one to each run of `slot_override`.
    pub async fn reset_tag_limit(&self, tag: &str, slot_override: &[Uuid]) -> Result<()> {
        let names = [tag_limit_name(tag)];
        self.with_locked_holders(&names, false, |limits, _, now| {
            let Some(limit) = limits.first_mut() else {
                return Err(V1_NOT_FOUND);
            };
            limit.settle_at(now);
            let mut runs: Vec<Uuid> = slot_override.to_vec();
            runs.sort();
            runs.dedup();
            limit.active_slots = runs.len() as i64;
            let mut edits = vec![HolderEdit::Clear { limit_id: limit.id }];
            edits.extend(runs.into_iter().map(|holder_id| HolderEdit::Add {
                limit_id: limit.id,
                holder_id,
                at: now,
            }));
            Ok(((), edits))
        })
        .await
    }

    /// Takes a slot of each of the run's tags' limits for a task run entering RUNNING (Prefect's
    /// `SecureTaskConcurrencySlots`), recording the run as their holder. A run already holding
    /// slots keeps them and takes no more.
    pub async fn secure_task_slots(&self, run_id: Uuid, tags: &[String]) -> Result<TagSlots> {
        let names: Vec<String> = tags.iter().map(|t| tag_limit_name(t)).collect();
        let uniform: f64 = rand::random();
        self.with_locked_holders(&names, true, |limits, held, now| {
            if limits.is_empty() || held.iter().any(|h| h.holder_id == run_id) {
                return Ok((TagSlots::Acquired, Vec::new()));
            }
            let outcome = secure_task_concurrency_slots(limits, now, uniform);
            let edits = if outcome == TagSlots::Acquired {
                limits
                    .iter()
                    .filter(|l| l.active)
                    .map(|l| HolderEdit::Add {
                        limit_id: l.id,
                        holder_id: run_id,
                        at: now,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            Ok((outcome, edits))
        })
        .await
    }

    /// Gives back the slots a task run holds on its tags' limits (Prefect's
    /// `ReleaseTaskConcurrencySlots`), recording how long each was held.
    pub async fn release_task_slots(&self, run_id: Uuid, tags: &[String]) -> Result<()> {
        let names: Vec<String> = tags.iter().map(|t| tag_limit_name(t)).collect();
        self.release_slots(run_id, &names).await
    }

    /// Gives back the slots `holder` holds on the limits named, recording how long each was held.
    async fn release_slots(&self, holder_id: Uuid, names: &[String]) -> Result<()> {
        self.with_locked_holders(names, true, |limits, held, now| {
            let mut edits = Vec::new();
            for holder in held.iter().filter(|h| h.holder_id == holder_id) {
                if let Some(limit) = limits.iter_mut().find(|l| l.id == holder.limit_id) {
                    let seconds = now.seconds_since(&holder.created);
                    release(std::slice::from_mut(limit), 1, Some(seconds), now);
                }
                edits.push(HolderEdit::Remove {
                    limit_id: holder.limit_id,
                    holder_id,
                });
            }
            Ok(((), edits))
        })
        .await
    }

    /// Makes the global limit `deployment:{id}` hold the deployment's `concurrency_limit`
    /// (created on first use, its limit updated when the deployment's changed).
    async fn sync_deployment_limit(&self, deployment: &Deployment, limit: i64) -> Result<String> {
        let name = deployment_limit_name(deployment.id);
        let key = LimitKey::Name(name.clone());
        match self.read_concurrency_limit_v2(&key).await {
            Ok(existing) if existing.limit == limit => {}
            Ok(_) => {
                let update = ConcurrencyLimitV2Update {
                    limit: Some(limit),
                    ..Default::default()
                };
                self.update_concurrency_limit_v2(&key, update).await?;
            }
            Err(Error::NotFound { .. }) => {
                let create = ConcurrencyLimitV2Create {
                    active: true,
                    name: name.clone(),
                    limit,
                    active_slots: 0,
                    denied_slots: 0,
                    slot_decay_per_second: 0.0,
                };
                match self.create_concurrency_limit_v2(create).await {
                    Ok(_) | Err(Error::Conflict(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            Err(other) => return Err(other),
        }
        Ok(name)
    }

    /// Takes a slot of the deployment's concurrency limit for a flow run entering PENDING
    /// (Prefect's `SecureFlowConcurrencySlots`). `None`: taken, already held, or the deployment
    /// has no limit; otherwise the decision to answer instead.
    pub async fn secure_deployment_slot(
        &self,
        run_id: Uuid,
        deployment: &Deployment,
    ) -> Result<Option<Decision>> {
        let Some(limit) = deployment.concurrency_limit else {
            return Ok(None);
        };
        let names = [self.sync_deployment_limit(deployment, limit).await?];
        let options = deployment.concurrency_options.clone();
        self.with_locked_holders(&names, true, |limits, held, now| {
            let Some(limit) = limits.first_mut() else {
                return Ok((None, Vec::new()));
            };
            if held.iter().any(|h| h.holder_id == run_id) {
                return Ok((None, Vec::new()));
            }
            let decision = secure_flow_concurrency_slots(limit, options.as_ref(), now);
            let edits = match (&decision, limit.active) {
                (None, true) => vec![HolderEdit::Add {
                    limit_id: limit.id,
                    holder_id: run_id,
                    at: now,
                }],
                _ => Vec::new(),
            };
            Ok((decision, edits))
        })
        .await
    }

    /// Gives back the deployment slot a flow run holds (Prefect's `ReleaseFlowConcurrencySlots`).
    pub async fn release_deployment_slot(&self, run_id: Uuid, deployment_id: Uuid) -> Result<()> {
        self.release_slots(run_id, &[deployment_limit_name(deployment_id)])
            .await
    }
}

/// The name of the global limit behind a deployment's `concurrency_limit`.
pub fn deployment_limit_name(deployment_id: Uuid) -> String {
    format!("deployment:{deployment_id}")
}

/// A run holding a slot of a limit since `created`.
pub(crate) struct Holder {
    limit_id: Uuid,
    holder_id: Uuid,
    created: Timestamp,
}

impl Holder {
    fn from_row((limit_id, holder_id, created): (String, String, String)) -> Option<Holder> {
        Some(Holder {
            limit_id: limit_id.parse().ok()?,
            holder_id: holder_id.parse().ok()?,
            created: created.parse().ok()?,
        })
    }
}

/// A change of the holder rows, made with the limits' counters.
pub(crate) enum HolderEdit {
    /// A new lease (see `concurrency_leases`).
    AddLease(ConcurrencyLease),
    Add {
        limit_id: Uuid,
        holder_id: Uuid,
        at: Timestamp,
    },
    Remove {
        limit_id: Uuid,
        holder_id: Uuid,
    },
    Clear {
        limit_id: Uuid,
    },
}
