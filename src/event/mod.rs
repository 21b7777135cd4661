//! Typed events: the kinds omk records and the payload of each.
//!
//! Owns the mapping between a stored `kind` + `data` and a Rust value, in both directions.
//! The chain never needs this module: a log whose kinds this build does not know still
//! verifies, and only decoding it (to fold it) fails, with an error naming the kind.
//! Must not read the clock or make ids: those are the shell's, passed in as data.

mod agent;
mod gate;
mod goal;
mod ids;
mod task;
mod time;
pub mod version;

pub use agent::{AgentFinished, AgentStarted, ChangesRecorded, WorktreeRemoved};
pub use gate::{
    FindingSeverity, GateFinished, GateStarted, GateTarget, ResultBuilt, ResultConflicted,
    ReviewCheck, ReviewFinding, ReviewRecorded,
};
pub use goal::{
    BudgetExtended, BudgetLimits, Conclusion, Decision, GoalCancelled, GoalConcluded, GoalLanded,
    GoalPaused, GoalPruned, GoalResumed, IntegrationDecided, LandMethod, OracleChecked,
    OracleSignal, Phase, PhaseEntered, PlannerFellBack, PullRequestOpened, RoundCause,
    RoundStarted, RunFailed, RunMode, RunOptions, RunStarted, UsageRecorded,
};
pub use ids::{GateName, GoalId, TaskId};
pub use task::{
    Evidence, PlanEdited, PlanSource, Risk, TaskEvidenceRecorded, TaskKind, TaskLeased,
    TaskRetried, TaskSpec, TaskStatus, TaskTransitioned, TasksPlanned,
};
pub use time::Timestamp;

use crate::log::artifacts::ArtifactRef;
use crate::log::line::{EventId, EventKind, InvalidEvent, NewEvent};
use crate::log::reader::RawEvent;
use crate::log::LineView;

/// Returns whether a count is zero, so that a field added with a zero default is left out of
/// the events that do not need it (their bytes stay as older builds wrote them).
pub(crate) fn is_zero(count: &u32) -> bool {
    *count == 0
}

/// Declares every event kind once: the enum variant, its payload type, its stored name, and
/// the steps that upcast its older payload versions (`[v1_to_v2, v2_to_v3]`; none while the
/// kind is at version 1). This table is the one place a kind's version is decided.
macro_rules! event_kinds {
    ($($variant:ident($payload:ty) = $kind:literal $([$($step:path),+ $(,)?])?,)*) => {
        /// Every event kind this build knows, with its payload.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Event {
            $($variant($payload),)*
        }

        /// Returns the name of every event kind this build knows, in declaration order.
        pub const KNOWN_KINDS: &[&str] = &[$($kind,)*];

        impl Event {
            /// Returns the stored name of this event's kind.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Event::$variant(_) => $kind,)*
                }
            }

            /// Returns the event ready to append under the writer-chosen `id`, its payload at
            /// its kind's current version.
            pub fn to_new_event(&self, id: EventId) -> Result<NewEvent, InvalidEvent> {
                let kind = EventKind::new(self.kind())?;
                match self {
                    $(Event::$variant(data) => {
                        const STEPS: &[version::Upcaster] = &[$($($step,)+)?];
                        match version::current_version(STEPS) {
                            1 => NewEvent::new(id, kind, data),
                            current => NewEvent::new(id, kind, &version::Versioned::new(current, data)),
                        }
                    })*
                }
            }

            /// Returns the typed event stored in `raw`.
            pub fn decode(raw: &RawEvent) -> Result<Event, DecodeError> {
                Event::decode_parts(raw.seq(), raw.kind(), raw.data())
            }

            /// Returns the typed event of kind `kind` with payload `data`, stored at `seq`:
            /// upcast when an older omk stored it, refused when a newer one did.
            pub fn decode_parts(seq: u64, kind: &str, data: &serde_json::value::RawValue) -> Result<Event, DecodeError> {
                match kind {
                    $($kind => version::decode_payload(seq, kind, data, &[$($($step,)+)?]).map(Event::$variant),)*
                    unknown => Err(DecodeError::UnknownKind {
                        seq,
                        kind: unknown.to_owned(),
                    }),
                }
            }
        }

        /// Returns the JSON Schema of every payload at its current version, by kind, in
        /// declaration order.
        pub fn payload_schemas(
            settings: &schemars::generate::SchemaSettings,
        ) -> Vec<(&'static str, schemars::Schema)> {
            vec![$((
                $kind,
                version::versioned_schema(
                    settings.clone().into_generator().into_root_schema_for::<$payload>(),
                    version::current_version(&[$($($step,)+)?]),
                ),
            ),)*]
        }
    };
}

event_kinds! {
    RunStarted(RunStarted) = "run_started",
    OracleChecked(OracleChecked) = "oracle_checked",
    PhaseEntered(PhaseEntered) = "phase_entered",
    ArtifactRecorded(ArtifactRef) = "artifact_recorded",
    PlannerFellBack(PlannerFellBack) = "planner_fell_back",
    TasksPlanned(TasksPlanned) = "tasks_planned",
    PlanEdited(PlanEdited) = "plan_edited",
    TaskTransitioned(TaskTransitioned) = "task_transitioned",
    TaskRetried(TaskRetried) = "task_retried",
    TaskLeased(TaskLeased) = "task_leased",
    TaskEvidenceRecorded(TaskEvidenceRecorded) = "task_evidence_recorded",
    UsageRecorded(UsageRecorded) = "usage_recorded",
    BudgetExtended(BudgetExtended) = "budget_extended",
    GoalPaused(GoalPaused) = "goal_paused",
    GoalResumed(GoalResumed) = "goal_resumed",
    GoalCancelled(GoalCancelled) = "goal_cancelled",
    GoalConcluded(GoalConcluded) = "goal_concluded",
    RunFailed(RunFailed) = "run_failed",
    IntegrationDecided(IntegrationDecided) = "integration_decided",
    AgentStarted(AgentStarted) = "agent_started",
    AgentFinished(AgentFinished) = "agent_finished",
    ChangesRecorded(ChangesRecorded) = "changes_recorded",
    WorktreeRemoved(WorktreeRemoved) = "worktree_removed",
    ResultBuilt(ResultBuilt) = "result_built",
    ResultConflicted(ResultConflicted) = "result_conflicted",
    GateStarted(GateStarted) = "gate_started" [gate::gate_v1_to_v2],
    GateFinished(GateFinished) = "gate_finished" [gate::gate_v1_to_v2],
    ReviewRecorded(ReviewRecorded) = "review_recorded",
    RoundStarted(RoundStarted) = "round_started",
    GoalLanded(GoalLanded) = "goal_landed",
    PullRequestOpened(PullRequestOpened) = "pull_request_opened",
    GoalPruned(GoalPruned) = "goal_pruned",
}

/// An event as the fold sees it: where it sits in the log, when it was appended, and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Returns the event's `seq`.
    pub seq: u64,
    /// Returns when the writer appended it.
    pub at: Timestamp,
    /// Returns the typed event.
    pub event: Event,
}

impl RecordedEvent {
    /// Returns the typed event stored in `raw`, with its place and time.
    pub fn decode(raw: &RawEvent) -> Result<RecordedEvent, DecodeError> {
        Ok(RecordedEvent {
            seq: raw.seq(),
            at: Timestamp::new(raw.ts()),
            event: Event::decode(raw)?,
        })
    }

    /// Returns the typed event of a line a walk checked (on its checker threads).
    pub fn decode_view(view: LineView<'_>) -> Result<RecordedEvent, DecodeError> {
        Ok(RecordedEvent {
            seq: view.seq,
            at: Timestamp::new(view.ts),
            event: Event::decode_parts(view.seq, view.kind, view.data)?,
        })
    }
}

/// A stored event could not be turned into a typed one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("this goal was written by a newer omk: event seq {seq} has kind `{kind}`, which omk {} does not know", env!("CARGO_PKG_VERSION"))]
    UnknownKind { seq: u64, kind: String },
    #[error("this goal was written by a newer omk: event seq {seq} (`{kind}`) has payload version {version}, and omk {} reads `{kind}` up to version {known}", env!("CARGO_PKG_VERSION"))]
    NewerVersion {
        seq: u64,
        kind: String,
        version: u32,
        known: u32,
    },
    #[error("event seq {seq} (`{kind}`) has a payload this build cannot read: {detail}")]
    BadPayload {
        seq: u64,
        kind: String,
        detail: String,
    },
}

impl DecodeError {
    /// Returns whether the event is of a kind or payload version a newer omk writes: the log is
    /// not damaged, this build is too old to fold it.
    pub fn is_newer(&self) -> bool {
        matches!(
            self,
            DecodeError::UnknownKind { .. } | DecodeError::NewerVersion { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_and_the_events_agree_on_the_artifact_kind() {
        assert!(KNOWN_KINDS.contains(&crate::log::artifacts::ARTIFACT_RECORDED));
    }
}
