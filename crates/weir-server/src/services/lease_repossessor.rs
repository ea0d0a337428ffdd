//! The lease repossessor: concurrency leases whose holders stopped renewing them (a crashed
//! process, a lost network) give back their slots once they expire, as Prefect's repossessor
//! service does. Each lease is given back under its own lock and only if it is still expired then,
//! so a renewal racing the repossessor keeps its lease, and a lease is never given back twice.

use weir_core::Timestamp;
use weir_storage::Store;

/// How many expired leases one iteration reads at a time.
const BATCH: i64 = 200;

/// Gives back the slots of every lease expired by now; returns how many leases.
pub(crate) async fn repossess_expired_leases(store: &Store) -> Result<usize, String> {
    let mut repossessed = 0;
    loop {
        let now = Timestamp::now();
        let expired = store
            .expired_concurrency_leases(now, BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let batch = expired.len();
        for lease_id in expired {
            match store.release_concurrency_lease(lease_id, Some(now)).await {
                Ok(true) => {
                    tracing::info!(lease = %lease_id, "concurrency lease expired; slots given back");
                    repossessed += 1;
                }
                // Given back or renewed meanwhile.
                Ok(false) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
        if batch < BATCH as usize {
            return Ok(repossessed);
        }
    }
}
