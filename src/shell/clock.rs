//! The shell's clock and id source.
//!
//! `OMK_TEST_NOW` (an RFC 3339 UTC instant) fixes the clock, in the style of jj's
//! `JJ_TIMESTAMP`, so that tests of the binary get stable timestamps and goal ids. It is a
//! testing aid, documented in README; it is never needed in normal use.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;

use crate::event::{GoalId, Timestamp};
use crate::log::line::{EventId, InvalidEvent};

/// The environment variable that fixes the clock.
pub const TEST_NOW_VAR: &str = "OMK_TEST_NOW";

/// Where "now" comes from.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    fixed: Option<Timestamp>,
}

/// `OMK_TEST_NOW` holds something that is not a timestamp.
#[derive(Debug, thiserror::Error)]
#[error("{TEST_NOW_VAR}={value:?} is not a UTC timestamp like 2026-11-24T14:00:00Z: {detail}")]
pub struct ClockError {
    value: String,
    detail: String,
}

impl Clock {
    /// Returns the system clock, or the fixed one `OMK_TEST_NOW` names.
    pub fn from_env() -> Result<Clock, ClockError> {
        let fixed = match std::env::var(TEST_NOW_VAR) {
            Ok(value) => Some(value.parse().map_err(|detail| ClockError {
                value: value.clone(),
                detail,
            })?),
            Err(_) => None,
        };
        Ok(Clock { fixed })
    }

    /// Returns the current instant.
    #[allow(clippy::disallowed_methods)] // The shell's one reading of the clock.
    pub fn now(&self) -> Timestamp {
        self.fixed.unwrap_or_else(|| Timestamp::new(Utc::now()))
    }

    /// Returns whether the clock is fixed (ids then derive from their inputs alone).
    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    /// Returns a new goal id, `g-YYYYMMDD-HHMMSS-mmm-xxxx`: ids sort by creation time.
    ///
    /// The suffix hashes the prompt and, unless the clock is fixed, the process and the
    /// instant to the nanosecond, so that goals started in the same millisecond differ.
    pub fn new_goal_id(&self, now: Timestamp, prompt: &str) -> GoalId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(now.to_string().as_bytes());
        hasher.update(prompt.as_bytes());
        if !self.is_fixed() {
            hasher.update(&process_nonce().to_le_bytes());
        }
        let suffix = &hasher.finalize().to_hex()[..4];
        GoalId::new(format!(
            "g-{}-{suffix}",
            now.instant().format("%Y%m%d-%H%M%S-%3f")
        ))
    }
}

/// Returns `count` event ids unique to this process and moment, for one batch.
///
/// Ids only need to be unique within a log's retry window; they carry the process id, a
/// nanosecond reading and a counter, so concurrent writers never reuse one.
pub fn new_event_ids(count: usize) -> Result<Vec<EventId>, InvalidEvent> {
    let nonce = process_nonce();
    (0..count)
        .map(|index| EventId::new(format!("e-{nonce:x}-{index}")))
        .collect()
}

/// Returns `wait` spread at random over 50% to 150% of itself, so that agents retried or
/// rate-limited together do not all come back at the same instant.
pub fn jittered(wait: std::time::Duration) -> std::time::Duration {
    // The nonce's low bits are uniform enough for a spread, and need no random crate.
    let per_mille = 500 + process_nonce() % 1001;
    wait.saturating_mul(u32::try_from(per_mille).unwrap_or(1000)) / 1000
}

/// Returns a value unique to this call in this process: pid, nanoseconds and a counter mixed.
#[allow(clippy::disallowed_methods)] // Only for uniqueness, never stored as time.
fn process_nonce() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&count.to_le_bytes());
    let bytes = hasher.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap_or_default())
}
