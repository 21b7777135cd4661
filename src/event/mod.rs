//! Typed events: the kinds omk records and the payload of each.
//!
//! Owns the mapping between a stored `kind` + `data` and a Rust value, in both directions.
//! The chain never needs this module: a log whose kinds this build does not know still
//! verifies, and only decoding it (to fold it) fails, with an error naming the kind.
//! Must not read the clock or make ids: those are the shell's, passed in as data.

use serde::{Deserialize, Serialize};

use crate::log::artifacts::{ArtifactRef, ARTIFACT_RECORDED};
use crate::log::line::{EventId, EventKind, InvalidEvent, NewEvent};
use crate::log::reader::RawEvent;

/// The state of one task in a goal's task graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started; waiting for its dependencies or a free agent.
    Pending,
    /// An agent or gate is working on it.
    Running,
    /// Finished with evidence.
    Done,
    /// Finished without success; may be retried.
    Failed,
    /// Cannot go on without something outside the run.
    Blocked,
    /// Will not be done in this goal.
    Cancelled,
}

/// `run_started`: a goal was taken in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStarted {
    /// Returns the goal's id.
    pub goal_id: String,
    /// Returns the prompt exactly as the user gave it.
    pub prompt: String,
    /// Returns the commit of the repository the goal starts from, when it is a git repository.
    pub base_commit: Option<String>,
    /// Returns the version of omk that started the run.
    pub omk_version: String,
}

/// `task_transitioned`: a task moved from one status to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTransitioned {
    /// Returns the task's id.
    pub task_id: String,
    /// Returns the status it left.
    pub from: TaskStatus,
    /// Returns the status it entered.
    pub to: TaskStatus,
    /// Returns why, in a sentence, when there is more to say than the statuses.
    pub reason: Option<String>,
}

/// `run_failed`: the run stopped because of a failure it could not recover from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunFailed {
    /// Returns what failed, in a sentence.
    pub reason: String,
    /// Returns the task the failure belongs to, if any.
    pub task_id: Option<String>,
}

/// Every event kind this build knows, with its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    RunStarted(RunStarted),
    ArtifactRecorded(ArtifactRef),
    TaskTransitioned(TaskTransitioned),
    RunFailed(RunFailed),
}

/// Returns the name of every event kind this build knows, in declaration order.
pub const KNOWN_KINDS: [&str; 4] = [
    "run_started",
    ARTIFACT_RECORDED,
    "task_transitioned",
    "run_failed",
];

impl Event {
    /// Returns the stored name of this event's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunStarted(_) => KNOWN_KINDS[0],
            Event::ArtifactRecorded(_) => KNOWN_KINDS[1],
            Event::TaskTransitioned(_) => KNOWN_KINDS[2],
            Event::RunFailed(_) => KNOWN_KINDS[3],
        }
    }

    /// Returns the event ready to append under the writer-chosen `id`.
    pub fn to_new_event(&self, id: EventId) -> Result<NewEvent, InvalidEvent> {
        let kind = EventKind::new(self.kind())?;
        match self {
            Event::RunStarted(data) => NewEvent::new(id, kind, data),
            Event::ArtifactRecorded(data) => NewEvent::new(id, kind, data),
            Event::TaskTransitioned(data) => NewEvent::new(id, kind, data),
            Event::RunFailed(data) => NewEvent::new(id, kind, data),
        }
    }

    /// Returns the typed event stored in `raw`.
    pub fn decode(raw: &RawEvent) -> Result<Event, DecodeError> {
        let data = raw.data().get();
        let payload_error = |error: serde_json::Error| DecodeError::BadPayload {
            seq: raw.seq(),
            kind: raw.kind().to_owned(),
            detail: error.to_string(),
        };
        let event = match raw.kind() {
            "run_started" => Event::RunStarted(serde_json::from_str(data).map_err(payload_error)?),
            ARTIFACT_RECORDED => {
                Event::ArtifactRecorded(serde_json::from_str(data).map_err(payload_error)?)
            }
            "task_transitioned" => {
                Event::TaskTransitioned(serde_json::from_str(data).map_err(payload_error)?)
            }
            "run_failed" => Event::RunFailed(serde_json::from_str(data).map_err(payload_error)?),
            unknown => {
                return Err(DecodeError::UnknownKind {
                    seq: raw.seq(),
                    kind: unknown.to_owned(),
                })
            }
        };
        Ok(event)
    }
}

/// A stored event could not be turned into a typed one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("event seq {seq} has kind `{kind}`, which omk {} does not know: use the omk version that wrote this log, or a newer one", env!("CARGO_PKG_VERSION"))]
    UnknownKind { seq: u64, kind: String },
    #[error("event seq {seq} (`{kind}`) has a payload this build cannot read: {detail}")]
    BadPayload {
        seq: u64,
        kind: String,
        detail: String,
    },
}
