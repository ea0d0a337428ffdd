//! Global concurrency limits (v2): create (names are unique), read, page, update and delete by id
//! or name, and the slot accounting of `/increment` and `/decrement`.
//!
//! Every change of a limit's counters happens in one transaction that first reads the limits with
//! a lock — `SELECT ... FOR UPDATE` in id order on PostgreSQL, the single writer connection on
//! SQLite — so concurrent increments cannot lose updates or overfill a limit. The accounting
//! itself is `weir_core::concurrency_limits`.

use crate::db::{on_pool, Backend};
use crate::{Error, Result, Store};
use uuid::Uuid;
use weir_core::concurrency_limits::{
    acquire, deny, release, AcquireError, ConcurrencyLimitV2, ConcurrencyLimitV2Create,
    ConcurrencyLimitV2Update, SlotMode,
};
use weir_core::Timestamp;

const NOT_FOUND: Error = Error::NotFound {
    kind: "Concurrency Limit",
};

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
fn for_update(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " ORDER BY id FOR UPDATE",
        Backend::Sqlite => " ORDER BY id",
    }
}

fn placeholders(count: usize) -> String {
    (1..=count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode(rows: Vec<(String,)>) -> Result<Vec<ConcurrencyLimitV2>> {
    rows.into_iter()
        .map(|(doc,)| Ok(serde_json::from_str(&doc)?))
        .collect()
}

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
        let sql = format!("DELETE FROM concurrency_limit_v2 WHERE {column} = $1");
        let deleted = on_pool!(&self.db, pool =>
            sqlx::query(&sql).bind(&value).execute(pool).await.map(|r| r.rows_affected()))?;
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

    /// Reads the limits named under a lock, lets `change` update them (it answers whether to
    /// write them back, and the result), and writes them in the same transaction.
    async fn with_locked_limits<T>(
        &self,
        names: &[String],
        change: impl FnOnce(&mut [ConcurrencyLimitV2], Timestamp) -> Result<(bool, T)>,
    ) -> Result<T> {
        if names.is_empty() {
            return change(&mut [], Timestamp::now()).map(|(_, t)| t);
        }
        let select = format!(
            "SELECT doc FROM concurrency_limit_v2 WHERE name IN ({}){}",
            placeholders(names.len()),
            for_update(self.backend())
        );
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let mut query = sqlx::query_as(&select);
            for name in names {
                query = query.bind(name);
            }
            let rows: Vec<(String,)> = query.fetch_all(&mut *tx).await?;
            let mut limits = decode(rows)?;
            let (write, answer) = change(&mut limits, Timestamp::now())?;
            if write {
                for limit in &limits {
                    sqlx::query("UPDATE concurrency_limit_v2 SET updated = $1, doc = $2 WHERE id = $3")
                        .bind(limit.updated.to_canonical())
                        .bind(serde_json::to_string(limit)?)
                        .bind(limit.id.to_string())
                        .execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(answer)
        })
    }
}
