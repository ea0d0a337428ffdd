//! Global concurrency limits (Prefect's `/v2/concurrency_limits`): wire shapes, Prefect 3.9.1's
//! input rules, and the slot accounting — decay of active and denied slots, all-or-nothing
//! acquisition, release with the running average of slot occupancy, and the `Retry-After` of a
//! denied acquisition.
//!
//! Pure: the store reads the limits under a lock, applies these functions with the clock and a
//! uniform random sample as arguments, and writes the result back in the same transaction.

use crate::orchestration::retry_jitter::jittered_delay;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The page size of `/v2/concurrency_limits/filter` when none is given, and the largest allowed.
pub const DEFAULT_LIMIT_PAGE: i64 = 200;
/// The longest wait a denied acquisition of a limit without decay is told to make, in seconds
/// (Prefect's `tag_concurrency_slot_wait_seconds` and `maximum_concurrency_slot_wait_seconds`,
/// both 30 by default).
pub const MAX_SLOT_WAIT_SECONDS: f64 = 30.0;
/// The floor of the average occupancy, which keeps the denied-slot decay rate finite.
const MIN_OCCUPANCY_SECONDS_PER_SLOT: f64 = 0.1;
/// The average occupancy is a moving average over `limit * this` samples.
const OCCUPANCY_SAMPLES_MULTIPLIER: f64 = 2.0;
/// The spread of `Retry-After` around its mean (Prefect's `clamped_poisson_interval` default).
const RETRY_AFTER_CLAMPING_FACTOR: f64 = 0.3;

fn default_true() -> bool {
    true
}

fn default_occupancy() -> f64 {
    2.0
}

/// A stored global concurrency limit; also the answer of `POST /v2/concurrency_limits/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConcurrencyLimitV2 {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub active: bool,
    pub name: String,
    pub limit: i64,
    pub active_slots: i64,
    pub denied_slots: i64,
    pub slot_decay_per_second: f64,
    #[serde(default = "default_occupancy")]
    pub avg_slot_occupancy_seconds: f64,
}

/// The answer of `GET /v2/concurrency_limits/{id_or_name}` and `/filter`: active slots after decay,
/// without the denied slots and occupancy (as Prefect's `GlobalConcurrencyLimitResponse`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GlobalConcurrencyLimitResponse {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub active: bool,
    pub name: String,
    pub limit: i64,
    pub active_slots: i64,
    pub slot_decay_per_second: f64,
}

/// One limit in the answer of `/increment` and `/decrement`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinimalConcurrencyLimitResponse {
    pub id: Uuid,
    pub name: String,
    pub limit: i64,
}

/// Body of `POST /v2/concurrency_limits/`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyLimitV2Create {
    #[serde(default = "default_true")]
    pub active: bool,
    pub name: String,
    pub limit: i64,
    #[serde(default)]
    pub active_slots: i64,
    #[serde(default)]
    pub denied_slots: i64,
    #[serde(default)]
    pub slot_decay_per_second: f64,
}

/// Body of `PATCH /v2/concurrency_limits/{id_or_name}`: absent (or `null`) fields stay as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyLimitV2Update {
    pub active: Option<bool>,
    pub name: Option<String>,
    pub limit: Option<i64>,
    pub active_slots: Option<i64>,
    pub denied_slots: Option<i64>,
    pub slot_decay_per_second: Option<f64>,
}

/// How `/increment` uses the limits: as concurrency (slots held until released) or as a rate
/// limit (slots that decay on their own; only limits with a decay may be used so).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotMode {
    #[default]
    Concurrency,
    RateLimit,
}

/// Body of `POST /v2/concurrency_limits/increment`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct IncrementBody {
    pub slots: i64,
    pub names: Vec<String>,
    #[serde(default)]
    pub mode: SlotMode,
    /// Deprecated by Prefect and ignored: limits must exist before slots are taken.
    pub create_if_missing: Option<bool>,
}

/// Body of `POST /v2/concurrency_limits/decrement`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct DecrementBody {
    pub slots: i64,
    pub names: Vec<String>,
    pub occupancy_seconds: Option<f64>,
    /// Deprecated by Prefect and ignored.
    pub create_if_missing: Option<bool>,
}

/// Body of `POST /v2/concurrency_limits/filter`: a page of limits sorted by name.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct LimitPageBody {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl LimitPageBody {
    /// The page to read, `(limit, offset)`, or the offending field and why it is refused.
    pub fn page(&self) -> Result<(i64, i64), (&'static str, String)> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT_PAGE);
        if !(0..=DEFAULT_LIMIT_PAGE).contains(&limit) {
            return Err((
                "limit",
                format!("must be between 0 and {DEFAULT_LIMIT_PAGE}"),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(("offset", "must be greater than or equal to 0".into()));
        }
        Ok((limit, offset))
    }
}

/// Checks a limit name against Prefect's pattern `^[^/%&><]+$`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| matches!(c, '/' | '%' | '&' | '>' | '<'))
    {
        return Err(format!(
            "{bad:?} is not allowed in a concurrency limit name"
        ));
    }
    Ok(())
}

fn non_negative(field: &'static str, value: Option<i64>) -> Result<(), (&'static str, String)> {
    match value {
        Some(v) if v < 0 => Err((field, "must be greater than or equal to 0".into())),
        _ => Ok(()),
    }
}

fn non_negative_rate(value: Option<f64>) -> Result<(), (&'static str, String)> {
    match value {
        Some(v) if !(v >= 0.0 && v.is_finite()) => Err((
            "slot_decay_per_second",
            "must be a number greater than or equal to 0".into(),
        )),
        _ => Ok(()),
    }
}

impl ConcurrencyLimitV2Create {
    /// The offending field and why, if the body breaks Prefect's rules.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        check_name(&self.name).map_err(|m| ("name", m))?;
        non_negative("limit", Some(self.limit))?;
        non_negative("active_slots", Some(self.active_slots))?;
        non_negative("denied_slots", Some(self.denied_slots))?;
        non_negative_rate(Some(self.slot_decay_per_second))
    }

    /// The limit this body creates, at `now`.
    pub fn into_limit(self, id: Uuid, now: Timestamp) -> ConcurrencyLimitV2 {
        ConcurrencyLimitV2 {
            id,
            created: now,
            updated: now,
            active: self.active,
            name: self.name,
            limit: self.limit,
            active_slots: self.active_slots,
            denied_slots: self.denied_slots,
            slot_decay_per_second: self.slot_decay_per_second,
            avg_slot_occupancy_seconds: default_occupancy(),
        }
    }
}

impl ConcurrencyLimitV2Update {
    /// The offending field and why, if the body breaks Prefect's rules.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(name) = &self.name {
            check_name(name).map_err(|m| ("name", m))?;
        }
        non_negative("limit", self.limit)?;
        non_negative("active_slots", self.active_slots)?;
        non_negative("denied_slots", self.denied_slots)?;
        non_negative_rate(self.slot_decay_per_second)
    }

    /// Applies the present fields to `limit` at `now`.
    pub fn apply(self, limit: &mut ConcurrencyLimitV2, now: Timestamp) {
        if let Some(active) = self.active {
            limit.active = active;
        }
        if let Some(name) = self.name {
            limit.name = name;
        }
        if let Some(value) = self.limit {
            limit.limit = value;
        }
        if let Some(slots) = self.active_slots {
            limit.active_slots = slots;
        }
        if let Some(slots) = self.denied_slots {
            limit.denied_slots = slots;
        }
        if let Some(rate) = self.slot_decay_per_second {
            limit.slot_decay_per_second = rate;
        }
        limit.updated = now;
    }
}

/// Checks the `slots` and `names` shared by `/increment` and `/decrement`.
pub fn check_slots(slots: i64, names: &[String]) -> Result<(), (&'static str, String)> {
    if slots <= 0 {
        return Err(("slots", "must be greater than 0".into()));
    }
    if names.is_empty() {
        return Err(("names", "must name at least one limit".into()));
    }
    Ok(())
}

/// Why an acquisition is refused outright (Prefect answers 422 with this detail).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    /// More slots asked for than an active limit has.
    #[error("Slots requested is greater than the limit")]
    TooManySlots,
    /// `rate_limit` mode on limits that do not decay.
    #[error(
        "Only concurrency limits with slot decay can be used for rate limiting. The following \
         limits do not have a decay configured: '{0}'"
    )]
    NoDecay(String),
}

impl ConcurrencyLimitV2 {
    fn decayed(count: i64, rate: f64, seconds: f64) -> i64 {
        let gone = (rate * seconds.max(0.0)).floor();
        if gone.is_finite() && gone > 0.0 {
            (count as f64 - gone).max(0.0) as i64
        } else {
            count.max(0)
        }
    }

    /// Active slots at `now`: they decay by `slot_decay_per_second` since the last write.
    pub fn active_slots_at(&self, now: Timestamp) -> i64 {
        let seconds = now.seconds_since(&self.updated);
        Self::decayed(self.active_slots, self.slot_decay_per_second, seconds)
    }

    /// The clamped average occupancy per slot of a limit without decay.
    fn clamped_occupancy(&self) -> f64 {
        self.avg_slot_occupancy_seconds
            .clamp(MIN_OCCUPANCY_SECONDS_PER_SLOT, MAX_SLOT_WAIT_SECONDS)
    }

    /// Denied slots at `now`: they decay by the slot decay of a rate limit, or by one per clamped
    /// average occupancy of a concurrency limit.
    pub fn denied_slots_at(&self, now: Timestamp) -> i64 {
        let rate = if self.slot_decay_per_second > 0.0 {
            self.slot_decay_per_second
        } else {
            1.0 / self.clamped_occupancy()
        };
        let seconds = now.seconds_since(&self.updated);
        Self::decayed(self.denied_slots, rate, seconds)
    }

    /// Writes the decay accrued up to `now` into the counters.
    pub fn settle_at(&mut self, now: Timestamp) {
        self.settle(now);
    }

    fn settle(&mut self, now: Timestamp) {
        self.active_slots = self.active_slots_at(now);
        self.denied_slots = self.denied_slots_at(now);
        self.updated = now;
    }

    /// The read answer at `now`.
    pub fn response(&self, now: Timestamp) -> GlobalConcurrencyLimitResponse {
        GlobalConcurrencyLimitResponse {
            id: self.id,
            created: self.created,
            updated: self.updated,
            active: self.active,
            name: self.name.clone(),
            limit: self.limit,
            active_slots: self.active_slots_at(now),
            slot_decay_per_second: self.slot_decay_per_second,
        }
    }

    /// The `/increment` and `/decrement` answer.
    pub fn minimal(&self) -> MinimalConcurrencyLimitResponse {
        MinimalConcurrencyLimitResponse {
            id: self.id,
            name: self.name.clone(),
            limit: self.limit,
        }
    }
}

/// Takes `slots` on every active limit of `limits`, all or nothing. Inactive limits are ignored.
/// `Ok(true)`: taken, the counters updated; `Ok(false)`: some limit lacks room and nothing changed
/// (answer with [`deny`]).
pub fn acquire(
    limits: &mut [ConcurrencyLimitV2],
    slots: i64,
    mode: SlotMode,
    now: Timestamp,
) -> Result<bool, AcquireError> {
    let active = || limits.iter().filter(|l| l.active);
    if active().any(|l| l.limit < slots) {
        return Err(AcquireError::TooManySlots);
    }
    let non_decaying: Vec<&str> = active()
        .filter(|l| l.slot_decay_per_second == 0.0)
        .map(|l| l.name.as_str())
        .collect();
    if mode == SlotMode::RateLimit && !non_decaying.is_empty() {
        return Err(AcquireError::NoDecay(non_decaying.join(",")));
    }
    if active().any(|l| l.active_slots_at(now) + slots > l.limit) {
        return Ok(false);
    }
    for limit in limits.iter_mut().filter(|l| l.active) {
        limit.settle(now);
        limit.active_slots += slots;
    }
    Ok(true)
}

/// Records a denied acquisition of `slots` on the active limits and returns the `Retry-After`
/// seconds, from the most blocked limit, spread by `uniform` (a sample in `[0, 1)`).
pub fn deny(limits: &mut [ConcurrencyLimitV2], slots: i64, now: Timestamp, uniform: f64) -> f64 {
    let blocking = |l: &ConcurrencyLimitV2, denied: i64| {
        let waiting = (slots + denied) as f64;
        if l.slot_decay_per_second > 0.0 {
            waiting
        } else {
            waiting / (l.limit.max(1) as f64)
        }
    };
    let mut worst: Option<(f64, f64)> = None;
    for limit in limits.iter_mut().filter(|l| l.active) {
        limit.settle(now);
        let waiting = blocking(limit, limit.denied_slots);
        let interval = if limit.slot_decay_per_second > 0.0 {
            waiting / limit.slot_decay_per_second
        } else {
            let per_slot = limit.avg_slot_occupancy_seconds.min(MAX_SLOT_WAIT_SECONDS);
            (per_slot * waiting).min(MAX_SLOT_WAIT_SECONDS)
        };
        if worst.is_none_or(|(w, _)| waiting > w) {
            worst = Some((waiting, interval));
        }
        limit.denied_slots += slots;
    }
    let interval = worst.map_or(0.0, |(_, interval)| interval);
    jittered_delay(interval, RETRY_AFTER_CLAMPING_FACTOR, uniform)
}

/// Gives back `slots` on every active limit (never below zero) and, given how long they were held,
/// moves each limit's average occupancy per slot towards it.
pub fn release(
    limits: &mut [ConcurrencyLimitV2],
    slots: i64,
    occupancy_seconds: Option<f64>,
    now: Timestamp,
) {
    for limit in limits.iter_mut().filter(|l| l.active) {
        limit.settle(now);
        limit.active_slots = (limit.active_slots - slots).max(0);
        if let Some(seconds) = occupancy_seconds.filter(|s| *s > 0.0) {
            let per_slot = (seconds / slots as f64).max(MIN_OCCUPANCY_SECONDS_PER_SLOT);
            let samples = limit.limit as f64 * OCCUPANCY_SAMPLES_MULTIPLIER;
            if samples > 0.0 {
                limit.avg_slot_occupancy_seconds +=
                    per_slot / samples - limit.avg_slot_occupancy_seconds / samples;
            }
        }
    }
}

/// The prefix of the global limit that stands for a tag's (v1) concurrency limit, as in Prefect
/// 3.9.1, which keeps v1 limits as v2 limits named `tag:{tag}`.
pub const TAG_PREFIX: &str = "tag:";

/// The name of the global limit behind `tag`'s concurrency limit.
pub fn tag_limit_name(tag: &str) -> String {
    format!("{TAG_PREFIX}{tag}")
}

/// Body of `POST /concurrency_limits/` (v1): create or update the limit of a tag.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyLimitCreate {
    pub tag: String,
    pub concurrency_limit: i64,
}

impl ConcurrencyLimitCreate {
    /// The offending field and why, if the body breaks Prefect's rules.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        check_name(&self.tag).map_err(|m| ("tag", m))?;
        non_negative("concurrency_limit", Some(self.concurrency_limit))
    }
}

/// A tag's concurrency limit (v1): `active_slots` lists the task runs holding a slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConcurrencyLimit {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub tag: String,
    pub concurrency_limit: i64,
    pub active_slots: Vec<Uuid>,
}

impl ConcurrencyLimit {
    /// The v1 view of a `tag:` global limit and its holders; `None` for other limits.
    pub fn from_v2(limit: &ConcurrencyLimitV2, holders: Vec<Uuid>) -> Option<ConcurrencyLimit> {
        let tag = limit.name.strip_prefix(TAG_PREFIX)?;
        Some(ConcurrencyLimit {
            id: limit.id,
            created: limit.created,
            updated: limit.updated,
            tag: tag.to_owned(),
            concurrency_limit: limit.limit,
            active_slots: holders,
        })
    }
}

/// Body of `POST /concurrency_limits/tag/{tag}/reset`: the task runs to hold the slots afterwards.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct ResetBody {
    pub slot_override: Option<Vec<Uuid>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limit(name: &str, max: i64, decay: f64, at: Timestamp) -> ConcurrencyLimitV2 {
        serde_json::from_value::<ConcurrencyLimitV2Create>(
            json!({"name": name, "limit": max, "slot_decay_per_second": decay}),
        )
        .unwrap()
        .into_limit(Uuid::new_v4(), at)
    }

    #[test]
    fn bodies_follow_prefects_rules() {
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<ConcurrencyLimitV2Create>(v)
                .unwrap()
                .check()
                .unwrap_err()
                .0
        };
        assert_eq!(bad(json!({"name": "a/b", "limit": 1})), "name");
        assert_eq!(bad(json!({"name": "a", "limit": -1})), "limit");
        assert_eq!(
            bad(json!({"name": "a", "limit": 1, "slot_decay_per_second": -0.5})),
            "slot_decay_per_second"
        );
        assert!(serde_json::from_value::<ConcurrencyLimitV2Create>(json!({"name": "a"})).is_err());
        assert!(serde_json::from_value::<ConcurrencyLimitV2Update>(json!({"nope": 1})).is_err());
        assert_eq!(check_slots(0, &["a".into()]).unwrap_err().0, "slots");
        assert_eq!(check_slots(1, &[]).unwrap_err().0, "names");
    }

    #[test]
    fn acquisition_is_all_or_nothing_and_skips_inactive_limits() {
        let now = Timestamp::now();
        let mut limits = vec![limit("a", 2, 0.0, now), limit("b", 1, 0.0, now)];
        assert_eq!(
            acquire(&mut limits, 1, SlotMode::Concurrency, now),
            Ok(true)
        );
        assert_eq!(
            acquire(&mut limits, 1, SlotMode::Concurrency, now),
            Ok(false)
        );
        assert_eq!(limits[0].active_slots, 1, "nothing taken when one is full");
        limits[1].active = false;
        assert_eq!(
            acquire(&mut limits, 1, SlotMode::Concurrency, now),
            Ok(true)
        );
        assert_eq!(
            (limits[0].active_slots, limits[1].active_slots),
            (2, 1),
            "the inactive limit is untouched"
        );
        assert_eq!(
            acquire(&mut limits, 3, SlotMode::Concurrency, now),
            Err(AcquireError::TooManySlots)
        );
        assert!(matches!(
            acquire(&mut limits, 1, SlotMode::RateLimit, now),
            Err(AcquireError::NoDecay(names)) if names == "a"
        ));
    }

    #[test]
    fn rate_limits_decay_and_releases_never_go_negative() {
        let start = Timestamp::now();
        let mut limits = vec![limit("r", 2, 1.0, start)];
        assert_eq!(
            acquire(&mut limits, 2, SlotMode::RateLimit, start),
            Ok(true)
        );
        assert_eq!(
            acquire(&mut limits, 1, SlotMode::RateLimit, start),
            Ok(false)
        );
        let later = start.plus_seconds(1.5);
        assert_eq!(limits[0].active_slots_at(later), 1);
        assert_eq!(
            acquire(&mut limits, 1, SlotMode::RateLimit, later),
            Ok(true)
        );
        release(&mut limits, 5, None, later);
        assert_eq!(limits[0].active_slots, 0);
    }

    #[test]
    fn denials_count_and_ask_for_a_bounded_wait() {
        let now = Timestamp::now();
        let mut limits = vec![limit("c", 1, 0.0, now)];
        acquire(&mut limits, 1, SlotMode::Concurrency, now).unwrap();
        let wait = deny(&mut limits, 1, now, 0.5);
        assert_eq!(limits[0].denied_slots, 1);
        // One slot of a limit of one, 2 s average occupancy: about 2 s, within the clamp.
        assert!(wait > 0.0 && wait <= 2.0 * 1.3 + 1e-9, "{wait}");
        limits[0].avg_slot_occupancy_seconds = 1000.0;
        assert!(deny(&mut limits, 1, now, 0.999) <= MAX_SLOT_WAIT_SECONDS * 1.3 + 1e-9);
    }

    #[test]
    fn release_moves_the_average_occupancy() {
        let now = Timestamp::now();
        let mut limits = vec![limit("c", 1, 0.0, now)];
        acquire(&mut limits, 1, SlotMode::Concurrency, now).unwrap();
        release(&mut limits, 1, Some(4.0), now);
        // Over 2 samples: 2 + 4/2 - 2/2.
        assert_eq!(limits[0].avg_slot_occupancy_seconds, 3.0);
    }
}
