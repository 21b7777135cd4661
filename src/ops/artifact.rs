//! `omk artifact show` and `omk goal output`: finding a recorded artifact by a prefix of its
//! hash, or by the gate or task that produced it.
//!
//! Status, show and the proof name gate output, transcripts and diffs by hash; this turns such
//! a hash (or its first few digits) back into the bytes. Only artifacts a goal's log records
//! are found, so every answer comes with the name, media type and event that recorded it, and
//! the bytes are checked against their hash before anyone reads them.

use std::fs::File;

use crate::log::artifacts::{
    ArtifactCheck, ArtifactError, ArtifactRef, ArtifactStore, ContentHash,
};
use crate::state::verdict::latest_gate_runs;
use crate::state::{GoalState, RecordedArtifact};
use crate::store::{GoalDir, StateDir, StoreError};

/// The fewest hex digits a prefix may have: fewer would match by accident.
pub const MIN_PREFIX: usize = 4;

/// One recording of an artifact: the goal whose log holds it and the event.
#[derive(Clone, Debug)]
pub struct FoundArtifact {
    /// Returns the goal whose log records it.
    pub goal_id: String,
    /// Returns the artifact and the `seq` of its `artifact_recorded` event.
    pub recorded: RecordedArtifact,
}

/// No single intact artifact answers the prefix.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("`{prefix}` is not a hash prefix: give at least {MIN_PREFIX} hex digits (0-9, a-f)")]
    NotAPrefix { prefix: String },
    #[error("no artifact with a hash starting `{prefix}` is recorded {where_}{unreadable}")]
    NotFound {
        prefix: String,
        where_: String,
        unreadable: String,
    },
    #[error("`{prefix}` matches {} artifacts: {}", .candidates.len(), describe(.candidates))]
    Ambiguous {
        prefix: String,
        candidates: Vec<FoundArtifact>,
    },
    #[error("artifact {hash} (`{name}`, goal {goal_id}) is missing from the store")]
    Missing {
        hash: ContentHash,
        name: String,
        goal_id: String,
    },
    #[error("artifact {hash} (`{name}`, goal {goal_id}) was altered on disk: {detail}")]
    Damaged {
        hash: ContentHash,
        name: String,
        goal_id: String,
        detail: String,
    },
    #[error("goal {goal_id} has no output for `{name}`: {known}")]
    NoOutput {
        goal_id: String,
        name: String,
        known: String,
    },
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Read(#[from] ArtifactError),
}

impl From<StoreError> for LookupError {
    fn from(error: StoreError) -> LookupError {
        LookupError::Store(Box::new(error))
    }
}

fn describe(candidates: &[FoundArtifact]) -> String {
    let shown: Vec<String> = candidates
        .iter()
        .take(5)
        .map(|found| {
            format!(
                "{} `{}`",
                &found.recorded.artifact.hash.to_hex()[..16],
                found.recorded.artifact.name
            )
        })
        .collect();
    let more = candidates.len().saturating_sub(shown.len());
    let tail = if more > 0 {
        format!(", and {more} more")
    } else {
        String::new()
    };
    format!("{}{tail}", shown.join(", "))
}

/// Returns the one artifact whose hash starts with `prefix`, in `goal` or else in every goal.
///
/// The same bytes recorded twice (a transcript in two goals, a plan recorded again) are one
/// answer, the first recording; two different hashes are ambiguous.
pub fn find(
    state_dir: &StateDir,
    goal: Option<&GoalDir>,
    prefix: &str,
) -> Result<FoundArtifact, LookupError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < MIN_PREFIX || prefix.len() > 64 || !prefix.bytes().all(is_hex_digit) {
        return Err(LookupError::NotAPrefix { prefix });
    }
    let goals = match goal {
        Some(goal) => vec![goal.clone()],
        None => state_dir
            .goal_ids()?
            .iter()
            .map(|id| state_dir.goal(id))
            .collect(),
    };
    let mut matches: Vec<FoundArtifact> = Vec::new();
    let mut unreadable = Vec::new();
    for goal_dir in &goals {
        let state = match goal_dir.load() {
            Ok(loaded) => loaded.state,
            Err(error) if goal.is_some() => return Err(error.into()),
            Err(_) => {
                unreadable.push(goal_dir.id().to_owned());
                continue;
            }
        };
        for recorded in state.artifacts {
            let hash = recorded.artifact.hash;
            let seen = matches
                .iter()
                .any(|found| found.recorded.artifact.hash == hash);
            if !seen && hash.to_hex().starts_with(&prefix) {
                matches.push(FoundArtifact {
                    goal_id: goal_dir.id().to_owned(),
                    recorded,
                });
            }
        }
    }
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(LookupError::NotFound {
            prefix,
            where_: match goal {
                Some(goal) => format!("in goal {}", goal.id()),
                None => match goals.as_slice() {
                    [] => "here (there are no goals)".to_owned(),
                    [only] => format!("in goal {} (the only one here)", only.id()),
                    _ => format!("in any of the {} goals here", goals.len()),
                },
            },
            unreadable: if unreadable.is_empty() {
                String::new()
            } else {
                format!(
                    " (goals whose logs could not be read: {}; `omk log verify` says why)",
                    unreadable.join(", ")
                )
            },
        }),
        _ => Err(LookupError::Ambiguous {
            prefix,
            candidates: matches,
        }),
    }
}

/// Which stream of an agent run `omk goal output` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Returns the output `name` left in `state`: a gate's latest run on the claimed tree (else on
/// the base commit), or a task's last agent run (`stream`).
pub fn output_of(
    goal_id: &str,
    state: &GoalState,
    name: &str,
    stream: Stream,
) -> Result<FoundArtifact, LookupError> {
    let gate = latest_gate_runs(state)
        .into_iter()
        .chain(state.gate_runs.iter().rev())
        .find(|record| record.run.gate == name)
        .map(|record| record.run.output);
    let task = state
        .tasks
        .get(name)
        .and_then(|task| task.runs.last()?.finished.as_ref())
        .map(|finished| match stream {
            Stream::Stdout => finished.stdout,
            Stream::Stderr => finished.stderr,
        });
    let recorded = gate.or(task).and_then(|hash| {
        state
            .artifacts
            .iter()
            .find(|recorded| recorded.artifact.hash == hash)
    });
    match recorded {
        Some(recorded) => Ok(FoundArtifact {
            goal_id: goal_id.to_owned(),
            recorded: recorded.clone(),
        }),
        None => {
            let mut gates: Vec<&str> = Vec::new();
            for record in &state.gate_runs {
                if !gates.contains(&record.run.gate.as_str()) {
                    gates.push(&record.run.gate);
                }
            }
            let tasks: Vec<&str> = state
                .tasks
                .tasks()
                .iter()
                .filter(|task| task.runs.iter().any(|run| run.finished.is_some()))
                .map(|task| task.spec.id.as_str())
                .collect();
            let list = |items: &[&str]| {
                if items.is_empty() {
                    "none yet".to_owned()
                } else {
                    items.join(", ")
                }
            };
            Err(LookupError::NoOutput {
                goal_id: goal_id.to_owned(),
                name: name.to_owned(),
                known: format!(
                    "gates with output: {}; tasks with agent runs: {}",
                    list(&gates),
                    list(&tasks)
                ),
            })
        }
    }
}

fn is_hex_digit(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
}

/// Opens the stored bytes of `found` after checking they still hash to its name.
pub fn open(state_dir: &StateDir, found: &FoundArtifact) -> Result<File, LookupError> {
    let store = state_dir.goal(&found.goal_id).artifacts();
    open_checked(&store, &found.goal_id, &found.recorded.artifact)
}

/// Opens the bytes `store` holds for `artifact`, a recording of goal `goal_id`, after checking
/// they still hash to its name and have the recorded size.
pub fn open_checked(
    store: &ArtifactStore,
    goal_id: &str,
    artifact: &ArtifactRef,
) -> Result<File, LookupError> {
    let damaged = |detail: String| LookupError::Damaged {
        hash: artifact.hash,
        name: artifact.name.clone(),
        goal_id: goal_id.to_owned(),
        detail,
    };
    match store.check(artifact)? {
        ArtifactCheck::Intact => {}
        ArtifactCheck::Missing => {
            return Err(LookupError::Missing {
                hash: artifact.hash,
                name: artifact.name.clone(),
                goal_id: goal_id.to_owned(),
            })
        }
        ArtifactCheck::Altered { actual } => {
            return Err(damaged(format!("its bytes hash to {actual}")))
        }
        ArtifactCheck::SizeMismatch { actual } => {
            return Err(damaged(format!(
                "it holds {actual} bytes, the log recorded {}",
                artifact.size
            )))
        }
    }
    let path = store.path_of(&artifact.hash);
    File::open(&path).map_err(|source| store.error(source).into())
}
