//! Concurrency leases: slots of global limits taken all or nothing together with a lease row
//! (`/increment-with-lease`), given back exactly once (`/decrement-with-lease`, or the lease
//! repossessor once the lease expired), and renewed. The v1 tag endpoints
//! `/concurrency_limits/increment` and `/decrement` take and give back task runs' slots here too.
//!
//! Locking, on both backends and across server replicas on PostgreSQL: taking slots locks the
//! limits (`concurrency_limits::with_locked_holders`) and inserts the lease in that transaction.
//! Giving a lease back first deletes its row — the row lock makes a concurrent release of the same
//! lease wait and then find nothing — and only if that deleted a row locks its limits and gives
//! back the slots, in the same transaction. No transaction locks limits before a lease row, so the
//! two lock orders cannot deadlock.

use crate::concurrency_limits::{lock_limits, write_limits, HolderEdit};
use crate::db::on_pool;
use crate::{Result, Store};
use uuid::Uuid;
use weir_core::concurrency_leases::{ConcurrencyLease, LeaseHolder};
use weir_core::concurrency_limits::{
    acquire, deny, release, tag_limit_name, AcquireError, ConcurrencyLimitV2, SlotMode,
};
use weir_core::orchestration::task::TagSlots;
use weir_core::Timestamp;

/// The outcome of `/increment-with-lease`.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaseIncrement {
    /// Slots taken under this lease (inactive limits included in the list, untouched).
    Acquired {
        lease_id: Uuid,
        limits: Vec<ConcurrencyLimitV2>,
    },
    /// Some limit lacked room; nothing taken. Retry after this many seconds.
    Locked { retry_after: f64 },
}

/// Inserts `$lease` (a `&ConcurrencyLease`) and its limits in the open transaction `$tx`.
macro_rules! insert_lease {
    ($tx:ident, $lease:expr) => {{
        let lease: &weir_core::concurrency_leases::ConcurrencyLease = $lease;
        sqlx::query(
            "INSERT INTO concurrency_lease (id, created, expires, slots, holder_type, holder_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(lease.id.to_string())
        .bind(lease.created.to_canonical())
        .bind(lease.expires.to_canonical())
        .bind(lease.slots)
        .bind(lease.holder.map(|h| h.kind.as_str()))
        .bind(lease.holder.map(|h| h.id.to_string()))
        .execute(&mut *$tx)
        .await?;
        for limit_id in &lease.limit_ids {
            sqlx::query("INSERT INTO concurrency_lease_limit (lease_id, limit_id) VALUES ($1, $2)")
                .bind(lease.id.to_string())
                .bind(limit_id.to_string())
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(crate) use insert_lease;

impl Store {
    /// Takes `slots` on every active limit named, all or nothing, under a new lease that lasts
    /// `lease_seconds` unless renewed. Refusals are as [`Store::increment_concurrency_slots`]'s.
    /// Names of no limit are ignored; with none left the lease holds nothing and is not stored.
    pub async fn acquire_concurrency_lease(
        &self,
        names: &[String],
        slots: i64,
        mode: SlotMode,
        lease_seconds: f64,
        holder: Option<LeaseHolder>,
    ) -> Result<LeaseIncrement> {
        let uniform: f64 = rand::random();
        self.with_locked_holders(names, false, |limits, _, now| {
            match acquire(limits, slots, mode, now) {
                Ok(true) => {
                    let lease = ConcurrencyLease {
                        id: Uuid::new_v4(),
                        created: now,
                        expires: now.plus_seconds(lease_seconds),
                        slots,
                        holder,
                        limit_ids: limits.iter().filter(|l| l.active).map(|l| l.id).collect(),
                    };
                    let answer = LeaseIncrement::Acquired {
                        lease_id: lease.id,
                        limits: limits.to_vec(),
                    };
                    // Prefect's clients neither renew nor give back a lease naming no limit, so
                    // one is not stored (its renewal is a 410; giving it back does nothing).
                    let edits = if limits.is_empty() {
                        Vec::new()
                    } else {
                        vec![HolderEdit::AddLease(lease)]
                    };
                    Ok((answer, edits))
                }
                Ok(false) => {
                    let retry_after = deny(limits, slots, now, uniform);
                    Ok((LeaseIncrement::Locked { retry_after }, Vec::new()))
                }
                Err(e @ (AcquireError::TooManySlots | AcquireError::NoDecay(_))) => {
                    Err(crate::Error::Invalid(e.to_string()))
                }
            }
        })
        .await
    }

    /// Gives back the slots of a lease and deletes it; `false` when there is no such lease (never
    /// taken, already given back, or repossessed), and then nothing changes. With `expired_by`,
    /// only a lease that expired by then is given back (the repossessor's check, made under the
    /// lease's lock so a renewal that won the race keeps it).
    pub async fn release_concurrency_lease(
        &self,
        lease_id: Uuid,
        expired_by: Option<Timestamp>,
    ) -> Result<bool> {
        let backend = self.backend();
        let claim = match expired_by {
            None => "DELETE FROM concurrency_lease WHERE id = $1 RETURNING created, slots",
            Some(_) => {
                "DELETE FROM concurrency_lease WHERE id = $1 AND expires <= $2 \
                 RETURNING created, slots"
            }
        };
        let cutoff = expired_by.map(|t| t.to_canonical());
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let mut query = sqlx::query_as(claim).bind(lease_id.to_string());
            if let Some(cutoff) = &cutoff {
                query = query.bind(cutoff);
            }
            let claimed: Option<(String, i64)> = query.fetch_optional(&mut *tx).await?;
            let Some((created, slots)) = claimed else {
                return Ok(false);
            };
            let limit_ids: Vec<(String,)> = sqlx::query_as(
                "DELETE FROM concurrency_lease_limit WHERE lease_id = $1 RETURNING limit_id")
                .bind(lease_id.to_string())
                .fetch_all(&mut *tx)
                .await?;
            if !limit_ids.is_empty() {
                let ids: Vec<String> = limit_ids.into_iter().map(|(id,)| id).collect();
                let mut limits = lock_limits!(backend, tx, "id", &ids);
                let now = Timestamp::now();
                let held = created.parse::<Timestamp>().map(|c| now.seconds_since(&c)).ok();
                release(&mut limits, slots, held, now);
                write_limits!(tx, &limits);
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Makes a lease last until `expires`; `false` when there is no such lease.
    pub async fn renew_concurrency_lease(
        &self,
        lease_id: Uuid,
        expires: Timestamp,
    ) -> Result<bool> {
        let renewed = on_pool!(&self.db, pool => sqlx::query(
            "UPDATE concurrency_lease SET expires = $1 WHERE id = $2")
            .bind(expires.to_canonical())
            .bind(lease_id.to_string())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(renewed > 0)
    }

    /// Up to `limit` leases that expired by `now`, soonest expired first.
    pub async fn expired_concurrency_leases(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<Uuid>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT id FROM concurrency_lease WHERE expires <= $1 ORDER BY expires, id LIMIT $2")
            .bind(now.to_canonical()).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id,)| id.parse().ok())
            .collect())
    }

    /// The v1 `/concurrency_limits/increment`: a slot of each tag's limit for the task run, as
    /// the task-run policy takes them (the run is the holder; a run already holding keeps its
    /// slots). Answers the outcome and, when taken, the active limits.
    pub async fn increment_tag_slots(
        &self,
        task_run_id: Uuid,
        tags: &[String],
    ) -> Result<(TagSlots, Vec<ConcurrencyLimitV2>)> {
        let outcome = self.secure_task_slots(task_run_id, tags).await?;
        if outcome != TagSlots::Acquired {
            return Ok((outcome, Vec::new()));
        }
        let mut limits = Vec::new();
        for tag in tags {
            let key = crate::LimitKey::Name(tag_limit_name(tag));
            match self.read_concurrency_limit_v2(&key).await {
                Ok(limit) if limit.active => limits.push(limit),
                Ok(_) | Err(crate::Error::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        Ok((outcome, limits))
    }

    /// The v1 `/concurrency_limits/decrement`: gives back what the task run holds on its tags'
    /// limits, as slot holder or through leases naming it as holder. Answers the limits found.
    pub async fn decrement_tag_slots(
        &self,
        task_run_id: Uuid,
        tags: &[String],
    ) -> Result<Vec<ConcurrencyLimitV2>> {
        self.release_task_slots(task_run_id, tags).await?;
        let mut limits = Vec::new();
        for tag in tags {
            let key = crate::LimitKey::Name(tag_limit_name(tag));
            match self.read_concurrency_limit_v2(&key).await {
                Ok(limit) => limits.push(limit),
                Err(crate::Error::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        if limits.is_empty() {
            return Ok(limits);
        }
        let sql = format!(
            "SELECT DISTINCT l.id FROM concurrency_lease l \
             JOIN concurrency_lease_limit ll ON ll.lease_id = l.id \
             WHERE l.holder_type = 'task_run' AND l.holder_id = $1 AND ll.limit_id IN ({})",
            (2..limits.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let leases: Vec<(String,)> = on_pool!(read &self.db, pool => {
            let mut query = sqlx::query_as(&sql).bind(task_run_id.to_string());
            for limit in &limits {
                query = query.bind(limit.id.to_string());
            }
            query.fetch_all(pool).await
        })?;
        for (lease_id,) in leases {
            if let Ok(lease_id) = lease_id.parse() {
                self.release_concurrency_lease(lease_id, None).await?;
            }
        }
        Ok(limits)
    }
}
