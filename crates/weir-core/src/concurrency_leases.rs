//! Concurrency leases, as Prefect 3.9.1's clients use them: the bodies and answers of
//! `/v2/concurrency_limits/increment-with-lease`, `/decrement-with-lease` and
//! `/leases/{lease_id}/renew`, their input rules, and the bodies of the v1 (tag)
//! `/concurrency_limits/increment` and `/decrement`.
//!
//! A lease holds `slots` on each of a set of global limits until its holder gives it back or it
//! expires; the holder renews it while it works. The slot accounting itself is
//! [`crate::concurrency_limits`].

use crate::concurrency_limits::{check_slots, MinimalConcurrencyLimitResponse, SlotMode};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The shortest lease a client may ask for, in seconds (Prefect's bound).
pub const MIN_LEASE_SECONDS: f64 = 60.0;
/// The longest lease a client may ask for, in seconds: one day (Prefect's bound).
pub const MAX_LEASE_SECONDS: f64 = 86_400.0;

fn default_lease_seconds() -> f64 {
    300.0
}

/// What kind of object holds a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaseHolderType {
    FlowRun,
    TaskRun,
    Deployment,
}

impl LeaseHolderType {
    /// The wire name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseHolderType::FlowRun => "flow_run",
            LeaseHolderType::TaskRun => "task_run",
            LeaseHolderType::Deployment => "deployment",
        }
    }
}

/// Who holds a lease (Prefect's `ConcurrencyLeaseHolder`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseHolder {
    #[serde(rename = "type")]
    pub kind: LeaseHolderType,
    pub id: Uuid,
}

/// Body of `POST /v2/concurrency_limits/increment-with-lease`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct IncrementWithLeaseBody {
    pub slots: i64,
    pub names: Vec<String>,
    #[serde(default)]
    pub mode: SlotMode,
    /// Seconds the lease lasts unless renewed.
    #[serde(default = "default_lease_seconds")]
    pub lease_duration: f64,
    pub holder: Option<LeaseHolder>,
}

impl IncrementWithLeaseBody {
    /// The offending field and why, if the body breaks Prefect's rules.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        check_slots(self.slots, &self.names)?;
        check_lease_duration(self.lease_duration)
    }
}

/// Body of `POST /v2/concurrency_limits/decrement-with-lease`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct DecrementWithLeaseBody {
    pub lease_id: Uuid,
}

/// Body of `POST /v2/concurrency_limits/leases/{lease_id}/renew`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct RenewLeaseBody {
    /// Seconds from now the lease lasts unless renewed again.
    #[serde(default = "default_lease_seconds")]
    pub lease_duration: f64,
}

impl RenewLeaseBody {
    /// The offending field and why, if the body breaks Prefect's rules.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        check_lease_duration(self.lease_duration)
    }
}

/// The answer of `/increment-with-lease`: the lease and the limits it holds slots of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConcurrencyLimitWithLeaseResponse {
    pub lease_id: Uuid,
    pub limits: Vec<MinimalConcurrencyLimitResponse>,
}

/// Checks a lease duration against Prefect's bounds, 60 s to one day.
pub fn check_lease_duration(seconds: f64) -> Result<(), (&'static str, String)> {
    if !seconds.is_finite() || seconds < MIN_LEASE_SECONDS {
        return Err((
            "lease_duration",
            format!("Input should be greater than or equal to {MIN_LEASE_SECONDS}"),
        ));
    }
    if seconds > MAX_LEASE_SECONDS {
        return Err((
            "lease_duration",
            format!("Input should be less than or equal to {MAX_LEASE_SECONDS}"),
        ));
    }
    Ok(())
}

/// A lease as stored: `slots` held on each limit of `limit_ids` since `created`, until `expires`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcurrencyLease {
    pub id: Uuid,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub slots: i64,
    pub holder: Option<LeaseHolder>,
    pub limit_ids: Vec<Uuid>,
}

/// Body of the v1 `POST /concurrency_limits/increment`: a slot of each tag's limit for a task run.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct TagIncrementBody {
    /// The tags (not the `tag:` limit names).
    pub names: Vec<String>,
    pub task_run_id: Uuid,
}

/// Body of the v1 `POST /concurrency_limits/decrement`: give back the task run's slots.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct TagDecrementBody {
    /// The tags (not the `tag:` limit names).
    pub names: Vec<String>,
    pub task_run_id: Uuid,
    /// Sent by Prefect's client; the server measures the occupancy itself.
    pub occupancy_seconds: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lease_bodies_follow_prefects_rules() {
        let body = |v: serde_json::Value| {
            serde_json::from_value::<IncrementWithLeaseBody>(v).expect("a body")
        };
        let ok = body(json!({"names": ["a"], "slots": 1}));
        assert_eq!(ok.lease_duration, 300.0);
        assert_eq!(ok.mode, SlotMode::Concurrency);
        assert!(ok.check().is_ok());
        let short = body(json!({"names": ["a"], "slots": 1, "lease_duration": 59.5}));
        assert_eq!(short.check().unwrap_err().0, "lease_duration");
        let long = body(json!({"names": ["a"], "slots": 1, "lease_duration": 86_401}));
        assert_eq!(long.check().unwrap_err().0, "lease_duration");
        let no_names = body(json!({"names": [], "slots": 1}));
        assert_eq!(no_names.check().unwrap_err().0, "names");
        let holder = body(json!({"names": ["a"], "slots": 2,
            "holder": {"type": "task_run", "id": Uuid::nil()}}));
        assert_eq!(
            holder.holder.map(|h| h.kind),
            Some(LeaseHolderType::TaskRun)
        );
        assert!(
            serde_json::from_value::<IncrementWithLeaseBody>(json!({"names": ["a"],
            "slots": 1, "holder": {"type": "task_run", "id": Uuid::nil(), "extra": 1}}))
            .is_err()
        );
        assert!(
            serde_json::from_value::<IncrementWithLeaseBody>(json!({"names": ["a"],
            "slots": 1, "holder": {"type": "worker", "id": Uuid::nil()}}))
            .is_err()
        );
        let renew: RenewLeaseBody = serde_json::from_value(json!({})).unwrap();
        assert!(renew.check().is_ok());
    }

    #[test]
    fn holder_types_are_stored_by_their_wire_names() {
        for kind in [
            LeaseHolderType::FlowRun,
            LeaseHolderType::TaskRun,
            LeaseHolderType::Deployment,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
    }
}
