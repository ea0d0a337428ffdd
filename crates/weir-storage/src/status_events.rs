//! The status last announced for each work pool, work queue and deployment, so the server's
//! foreman emits each status change once (see the `status_event` migration). Statuses themselves
//! are computed on read; this table only remembers what was announced.

use crate::db::on_pool;
use crate::{Error, Result, Store};
use std::collections::HashMap;
use uuid::Uuid;
use weir_core::Timestamp;

/// The status last announced for a resource, by which event, when.
#[derive(Clone, Debug, PartialEq)]
pub struct EmittedStatus {
    pub status: String,
    pub event_id: Uuid,
    pub emitted: Timestamp,
}

impl Store {
    /// Every recorded status, by resource id (`prefect.work-pool.<id>`, ...).
    pub async fn emitted_statuses(&self) -> Result<HashMap<String, EmittedStatus>> {
        let rows: Vec<(String, String, String, String)> = on_pool!(read &self.db, pool =>
            sqlx::query_as("SELECT resource_id, status, event_id, emitted FROM status_event")
                .fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(resource_id, status, event_id, emitted)| {
                let event_id = event_id
                    .parse()
                    .map_err(|_| Error::Invalid("stored status event id is not a UUID".into()))?;
                let emitted = emitted
                    .parse()
                    .map_err(|_| Error::Invalid("stored status event time is unreadable".into()))?;
                let emitted = EmittedStatus {
                    status,
                    event_id,
                    emitted,
                };
                Ok((resource_id, emitted))
            })
            .collect()
    }

    /// Records that `resource_id` moved from `previous` (`None`: nothing recorded) to `now`,
    /// announced by `event_id`. True when this call made the change; false when another writer
    /// recorded a different status first, in which case the caller must not announce it.
    pub async fn claim_status_change(
        &self,
        resource_id: &str,
        previous: Option<&str>,
        now: &str,
        event_id: Uuid,
    ) -> Result<bool> {
        let at = Timestamp::now().to_canonical();
        let changed = match previous {
            None => on_pool!(&self.db, pool => sqlx::query(
                "INSERT INTO status_event (resource_id, status, event_id, emitted) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (resource_id) DO NOTHING")
                .bind(resource_id).bind(now).bind(event_id.to_string()).bind(&at)
                .execute(pool).await.map(|r| r.rows_affected()))?,
            Some(previous) => on_pool!(&self.db, pool => sqlx::query(
                "UPDATE status_event SET status = $1, event_id = $2, emitted = $3 \
                 WHERE resource_id = $4 AND status = $5")
                .bind(now).bind(event_id.to_string()).bind(&at).bind(resource_id).bind(previous)
                .execute(pool).await.map(|r| r.rows_affected()))?,
        };
        Ok(changed == 1)
    }

    /// Forgets the recorded statuses of `resource_ids` (deleted pools, queues, deployments).
    pub async fn forget_emitted_statuses(&self, resource_ids: &[String]) -> Result<()> {
        for resource_id in resource_ids {
            on_pool!(&self.db, pool => sqlx::query(
                "DELETE FROM status_event WHERE resource_id = $1")
                .bind(resource_id).execute(pool).await.map(|_| ()))?;
        }
        Ok(())
    }
}
