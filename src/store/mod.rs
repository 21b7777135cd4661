//! Goal directories on disk: where goals live, loading a goal (snapshot + fold of the newer
//! events), appending a decided batch, and writing the projections beside the log.
//!
//! Part of the shell. A command that decides (anything that appends, and the proof) folds the
//! log itself ([`GoalDir::load`]): a file beside the log, which an agent's tools could reach,
//! never decides what may be appended. Views may start from the snapshot
//! ([`GoalDir::load_view`]) when its digest matches its content and the event it names is in
//! the chain; every other file beside the log is write-only here.
//! Appends are optimistic: decide on a fold, append at the expected `seq`, and on a conflict
//! load again and decide again, so concurrent commands on one goal serialise cleanly.

mod projections;

use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::event::{DecodeError, Event, RecordedEvent, Timestamp};
use crate::log::artifacts::ArtifactStore;
use crate::log::chain::{Head, Position};
use crate::log::line::InvalidEvent;
use crate::log::merkle::{RootBuilder, TreeHead};
use crate::log::paths::{LogPaths, LOG_FILE_NAME};
use crate::log::reader::{position_in_chain, read_decoding, ReadError};
use crate::log::writer::{AppendError, Expected, LogWriter, OpenError};
use crate::project::derived::DerivedBy;
use crate::project::snapshot::{Snapshot, SNAPSHOT_FORMAT};
use crate::shell::clock::{jittered, new_event_ids};
use crate::state::{FoldError, GoalState, Refusal};
use crate::trust::SigningKey;

pub use projections::{replace_projection, SNAPSHOT_FILE, TASK_GRAPH_FILE};

/// The directory under the state root that holds one directory per goal.
pub const GOALS_DIR: &str = "goals";
/// The directory under the state root that holds the goals' worktrees, apart from their logs:
/// an agent's working tree never contains the log, its checkpoint or its projections.
pub const WORKTREES_DIR: &str = "worktrees";
/// How many events a read may fold past the snapshot before it refreshes the snapshot.
pub const SNAPSHOT_EVERY: u64 = 512;
/// How long a command keeps deciding again after losing races to other writers: a busy goal
/// makes a command slower, and only a goal busy for this long makes it fail.
pub const CONTENTION_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);
/// The first wait after a lost race; it doubles with each one in a row, up to `MAX_RACE_WAIT`.
const FIRST_RACE_WAIT: std::time::Duration = std::time::Duration::from_millis(2);
const MAX_RACE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// A goal command or load could not complete; nothing was appended unless said otherwise.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no goals in {dir}")]
    NoGoals { dir: String },
    #[error("no goal `{id}` in {dir}")]
    UnknownGoal { id: String, dir: String },
    #[error("`{selector}` matches {} goals: {}", candidates.len(), name_some(candidates))]
    AmbiguousGoal {
        selector: String,
        candidates: Vec<String>,
    },
    #[error("goal {id} already exists in {dir}")]
    GoalExists { id: String, dir: String },
    #[error("goal {id} has an empty event log: {path}")]
    EmptyLog { id: String, path: String },
    #[error("cannot access {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Append(AppendError),
    #[error(
        "{path} has a torn tail: {bytes} bytes from byte {offset} after the last complete batch"
    )]
    TornTail {
        path: String,
        offset: u64,
        bytes: u64,
    },
    #[error("cannot fold {path}: {source}")]
    Decode {
        path: String,
        source: DecodeError,
        /// The omk version that started the goal, when its first event could be read.
        started_by: Option<String>,
    },
    #[error("cannot fold {path}: {source}")]
    Fold {
        path: String,
        source: Box<FoldError>,
    },
    #[error("{0}")]
    Refused(Refusal),
    #[error("{path} changed under this command {attempts} times in a row over {seconds}s (other writers are busy): try again")]
    Contended {
        path: String,
        attempts: u32,
        seconds: u64,
    },
    #[error("cannot make event ids: {0}")]
    Ids(#[from] InvalidEvent),
}

impl StoreError {
    /// Returns the I/O error behind a failure to open or write the log, if that is what it is.
    pub fn io_cause(&self) -> Option<&io::Error> {
        match self {
            StoreError::Io { source, .. }
            | StoreError::Open(OpenError::Io { source, .. })
            | StoreError::Append(
                AppendError::Write { source, .. }
                | AppendError::Sync { source, .. }
                | AppendError::Log(OpenError::Io { source, .. }),
            ) => Some(source),
            _ => None,
        }
    }

    /// Returns whether the log itself is damaged (the fix is `omk log verify` / `omk log repair`).
    pub fn is_log_damage(&self) -> bool {
        matches!(
            self,
            StoreError::Read(
                ReadError::Corrupt { .. } | ReadError::Truncated { .. } | ReadError::Checkpoint(_)
            ) | StoreError::Open(
                OpenError::Checkpoint(_)
                    | OpenError::Corrupt { .. }
                    | OpenError::TornTail { .. }
                    | OpenError::Truncated { .. }
            ) | StoreError::TornTail { .. }
                | StoreError::Fold { .. }
        ) || matches!(self, StoreError::Decode { source, .. } if !source.is_newer())
    }
}

/// Where goals are kept: `<repo>/.omk`, or `$OMK_HOME` when set.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
    /// The key that signs every goal's tree heads, if the user has one.
    signing_key: Option<Arc<SigningKey>>,
}

impl StateDir {
    /// Returns the state directory rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir {
            root: root.into(),
            signing_key: None,
        }
    }

    /// Returns the state directory whose goals' checkpoints are signed with `key`.
    pub fn signing_with(mut self, key: Option<SigningKey>) -> StateDir {
        self.signing_key = key.map(Arc::new);
        self
    }

    /// Returns the directory holding the goals.
    pub fn goals_dir(&self) -> PathBuf {
        self.root.join(GOALS_DIR)
    }

    /// Returns the goal with `id` (which may not exist).
    pub fn goal(&self, id: &str) -> GoalDir {
        GoalDir {
            id: id.to_owned(),
            dir: self.goals_dir().join(id),
            worktrees: self.root.join(WORKTREES_DIR).join(id),
            signing_key: self.signing_key.clone(),
        }
    }

    /// Returns the ids of every goal, oldest first (ids sort by creation time).
    pub fn goal_ids(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.goals_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(io_error(&dir, source)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| io_error(&dir, source))?;
            // A goal whose first append never landed (a crash in `omk goal run`) has an empty
            // log or none: it was never started, so it is not listed or `latest`.
            let started = fs::metadata(entry.path().join(LOG_FILE_NAME))
                .is_ok_and(|meta| meta.is_file() && meta.len() > 0);
            if started {
                ids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Returns the goal `selector` names: `latest` for the newest; else an id, or (as git and jj
    /// take a hash) any part of one that fits a single goal, case aside: its start (`g-20261126`,
    /// the `g-` optional) or the start of its short form (`ad53`, see [`short_ids`]).
    pub fn resolve(&self, selector: &str) -> Result<GoalDir, StoreError> {
        let dir = self.goals_dir().display().to_string();
        if selector == "latest" {
            let ids = self.goal_ids()?;
            let newest = ids.last().ok_or(StoreError::NoGoals { dir })?;
            return Ok(self.goal(newest));
        }
        let plausible = !selector.is_empty()
            && !selector.contains(['/', '\\'])
            && selector != "."
            && selector != "..";
        let unknown = || StoreError::UnknownGoal {
            id: selector.to_owned(),
            dir: dir.clone(),
        };
        if !plausible {
            return Err(unknown());
        }
        let goal = self.goal(selector);
        if goal.paths().log().is_file() {
            return Ok(goal);
        }
        let ids = self.goal_ids()?;
        let matching: Vec<&String> = ids.iter().filter(|id| selects(selector, id)).collect();
        match matching.as_slice() {
            [] => Err(unknown()),
            [id] => Ok(self.goal(id)),
            several => Err(StoreError::AmbiguousGoal {
                selector: selector.to_owned(),
                candidates: several.iter().map(|id| id.to_string()).collect(),
            }),
        }
    }

    /// Creates the directory of a new goal and appends its first batch, `events`.
    pub fn create_goal(
        &self,
        id: &str,
        at: Timestamp,
        events: Vec<Event>,
    ) -> Result<Loaded, StoreError> {
        fs::create_dir_all(self.goals_dir())
            .map_err(|source| io_error(&self.goals_dir(), source))?;
        self.ignore_in_git()?;
        let goal = self.goal(id);
        match fs::create_dir(&goal.dir) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StoreError::GoalExists {
                    id: id.to_owned(),
                    dir: self.goals_dir().display().to_string(),
                })
            }
            Err(source) => return Err(io_error(&goal.dir, source)),
        }
        goal.append(None, at, events)
    }

    /// Keeps the state directory out of `git status` of the repository it lives in.
    fn ignore_in_git(&self) -> Result<(), StoreError> {
        let ignore = self.root.join(".gitignore");
        if !ignore.exists() {
            fs::write(
                &ignore,
                "# omk's state: goal logs, artifacts, worktrees\n*\n",
            )
            .map_err(|source| io_error(&ignore, source))?;
        }
        Ok(())
    }
}

/// Returns the first few of `ids` for a message, and how many more there are.
fn name_some(ids: &[String]) -> String {
    const SHOWN: usize = 4;
    match ids.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{} and {more} more", ids[..SHOWN].join(", ")),
        _ => ids.join(", "),
    }
}

/// The shortest start of an id that selects a goal, as git asks of a hash: one or two
/// characters would pick a goal by accident (and `cancel` or `land` act on it).
const MIN_PREFIX: usize = 4;

/// Returns whether `selector` names the goal `id`, case aside: the whole id or its random
/// suffix, or the start of either (of the id with or without its `g-`) of [`MIN_PREFIX`]
/// characters or more.
fn selects(selector: &str, id: &str) -> bool {
    let (selector, id) = (selector.to_ascii_lowercase(), id.to_ascii_lowercase());
    let suffix = suffix(&id);
    if selector == id || selector == suffix {
        return true;
    }
    selector.len() >= MIN_PREFIX
        && (id.starts_with(&selector)
            || id
                .strip_prefix("g-")
                .is_some_and(|rest| rest.starts_with(&selector))
            || suffix.starts_with(&selector))
}

/// Returns the random part of a goal id (`ad53` of `g-20261126-142301-120-ad53`).
fn suffix(id: &str) -> &str {
    id.rsplit('-').next().unwrap_or(id)
}

/// Returns the shortest name of each goal that [`StateDir::resolve`] takes as that goal alone:
/// its random suffix when no other goal shares it, else the whole id.
pub fn short_ids(ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            let short = suffix(id);
            let unique =
                !short.is_empty() && ids.iter().filter(|other| selects(short, other)).count() == 1;
            if unique {
                short.to_owned()
            } else {
                id.clone()
            }
        })
        .collect()
}

/// The size of a read worth spreading over every core: below it, starting the checker threads
/// costs more than they save (a view folding a short tail stays at about 2 ms).
const PARALLEL_READ_BYTES: u64 = 1 << 20;

/// Returns how many checker threads a read of the log after `from` should use.
fn read_threads(paths: &LogPaths, from: Position) -> NonZeroUsize {
    let remaining = fs::metadata(paths.log())
        .map(|metadata| metadata.len().saturating_sub(from.offset))
        .unwrap_or(0);
    if remaining < PARALLEL_READ_BYTES {
        return NonZeroUsize::MIN;
    }
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// A goal's directory: its log, artifacts and projections.
#[derive(Clone, Debug)]
pub struct GoalDir {
    id: String,
    dir: PathBuf,
    worktrees: PathBuf,
    signing_key: Option<Arc<SigningKey>>,
}

/// Whether a load could start from the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotUse {
    /// There was no snapshot.
    Absent,
    /// The snapshot covered events up to this `seq`.
    Used { seq: u64 },
    /// The snapshot was not trusted, for this reason; the whole log was folded.
    Ignored { reason: String },
    /// The snapshot was in an older format (an upgrade since it was written): the whole log
    /// was folded, and the projections were rebuilt in this build's formats.
    Older { written_by: String },
}

/// A goal as folded from its log.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Returns the folded state.
    pub state: GoalState,
    /// Returns the point after the last event folded.
    pub position: Position,
    /// Returns how the snapshot was used.
    pub snapshot: SnapshotUse,
    /// Returns how many events were folded (beyond the snapshot).
    pub folded: u64,
    /// Returns the log's Merkle tree through `position`.
    pub tree: RootBuilder,
}

impl Loaded {
    /// Returns the head of the log the state was folded through.
    pub fn head(&self) -> Head {
        // A loaded goal has at least its `run_started` event.
        self.position.head().unwrap_or(Head {
            seq: 0,
            hash: crate::log::hash::EventHash::GENESIS,
        })
    }

    /// Returns the size and root of the log's tree through the head.
    pub fn tree_head(&self) -> TreeHead {
        // A loaded goal has at least one event, so its tree has a root.
        self.tree.head().unwrap_or(TreeHead {
            size: 0,
            root: crate::log::hash::EventHash::GENESIS,
        })
    }
}

impl GoalDir {
    /// Returns the goal whose directory is `dir`, its id the directory's name: a goal directory
    /// read on its own (one copied from another machine, say), as `omk replay <dir>` does.
    pub fn at(dir: &Path) -> GoalDir {
        let id = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let worktrees = dir
            .parent()
            .and_then(Path::parent)
            .map_or_else(|| dir.join(WORKTREES_DIR), |root| root.join(WORKTREES_DIR))
            .join(&id);
        GoalDir {
            id,
            dir: dir.to_path_buf(),
            worktrees,
            signing_key: None,
        }
    }

    /// Returns the goal's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns the goal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns where the goal's worktrees live (`<state>/worktrees/<goal-id>/`): the slices',
    /// `_result`, `_base` and `_plan`, outside the goal's directory.
    pub fn worktrees_dir(&self) -> &Path {
        &self.worktrees
    }

    /// Returns the paths of the goal's log and the files beside it.
    pub fn paths(&self) -> LogPaths {
        LogPaths::for_log(self.dir.join(LOG_FILE_NAME))
    }

    /// Returns the goal's artifact store.
    pub fn artifacts(&self) -> ArtifactStore {
        ArtifactStore::new(self.paths().artifacts())
    }

    /// Returns the goal folded from its log alone: what every decision is made on.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        self.fold_from(None, SnapshotUse::Absent)
    }

    /// Returns the goal for a view: folded from the snapshot when it is intact, of this goal
    /// and in the chain, else from the log alone. A cache: deleting it changes no output.
    pub fn load_view(&self) -> Result<Loaded, StoreError> {
        let (start, snapshot) = self.usable_snapshot(&self.paths())?;
        let loaded = self.fold_from(start, snapshot)?;
        if matches!(loaded.snapshot, SnapshotUse::Older { .. }) {
            // Rebuilt quietly after an upgrade; a read-only directory keeps the old files.
            let _ = projections::write_all(self, &loaded);
        } else if loaded.folded >= SNAPSHOT_EVERY {
            // A cache refresh on a read: a read-only directory just keeps folding the tail.
            let _ = projections::write_snapshot(self, &loaded);
        }
        Ok(loaded)
    }

    /// Folds the log after `start` (a snapshot) or from its first event.
    fn fold_from(
        &self,
        start: Option<Snapshot>,
        snapshot: SnapshotUse,
    ) -> Result<Loaded, StoreError> {
        self.fold_range(start, snapshot, None)
    }

    /// Folds the log after `start` (a snapshot) or from its first event, through event
    /// `through` when given (else to the end). Lines are checked and decoded on every core
    /// when the part to read is large, and folded in order.
    fn fold_range(
        &self,
        start: Option<Snapshot>,
        snapshot: SnapshotUse,
        through: Option<u64>,
    ) -> Result<Loaded, StoreError> {
        let _span = tracing::debug_span!("fold", goal = %self.id).entered();
        let paths = self.paths();
        let (mut state, from, mut tree) = match start {
            Some(snapshot) => {
                let position = snapshot.position();
                let tree = snapshot.tree().unwrap_or_default();
                (Some(snapshot.state), position, tree)
            }
            None => (None, Position::START, RootBuilder::default()),
        };
        let log = paths.log().display().to_string();
        let mut folded = 0;
        let mut position = from;
        let mut failure = None;
        let end = read_decoding(
            &paths,
            from,
            read_threads(&paths, from),
            &RecordedEvent::decode_view,
            |verified, decoded| {
                if through.is_some_and(|seq| verified.seq > seq) {
                    return ControlFlow::Break(());
                }
                let applied = decoded
                    .map_err(|source| StoreError::Decode {
                        path: log.clone(),
                        source,
                        started_by: state.as_ref().map(|state| state.omk_version.clone()),
                    })
                    .and_then(|recorded| {
                        let applied = match &mut state {
                            Some(state) => state.apply(&recorded),
                            None => GoalState::start(&recorded).map(|started| {
                                state = Some(started);
                            }),
                        };
                        applied.map_err(|source| StoreError::Fold {
                            path: log.clone(),
                            source: Box::new(source),
                        })
                    });
                if let Err(error) = applied {
                    failure = Some(error);
                    return ControlFlow::Break(());
                }
                tree.push(verified.leaf);
                position = verified.after;
                folded += 1;
                ControlFlow::Continue(())
            },
        )?;
        if let Some(error) = failure {
            return Err(error);
        }
        tracing::debug!(
            from_snapshot = from.next_seq > 0,
            events = folded,
            "folded through seq {}",
            position.next_seq.saturating_sub(1)
        );
        if let Some(torn) = end.torn_tail {
            return Err(StoreError::TornTail {
                path: log,
                offset: torn.offset,
                bytes: torn.bytes,
            });
        }
        let state = state.ok_or_else(|| StoreError::EmptyLog {
            id: self.id.clone(),
            path: log.clone(),
        })?;
        Ok(Loaded {
            state,
            position,
            snapshot,
            folded,
            tree,
        })
    }

    /// Returns the goal as it stood right after event `seq`, folded from the snapshot when it
    /// is usable and at or before `seq`, else from the first event.
    pub fn load_through(&self, seq: u64) -> Result<Loaded, StoreError> {
        let (start, snapshot) = self.usable_snapshot(&self.paths())?;
        match start {
            Some(start) if start.covers.seq <= seq => {
                self.fold_range(Some(start), snapshot, Some(seq))
            }
            _ => self.fold_range(None, SnapshotUse::Absent, Some(seq)),
        }
    }

    /// Returns the snapshot when it is readable, of this goal, and in the chain.
    fn usable_snapshot(
        &self,
        paths: &LogPaths,
    ) -> Result<(Option<Snapshot>, SnapshotUse), StoreError> {
        let path = self.dir.join(SNAPSHOT_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok((None, SnapshotUse::Absent))
            }
            Err(error) => return Ok((None, ignored(format!("unreadable: {error}")))),
        };
        let Ok(stored) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Ok((None, ignored("it is not JSON".to_owned())));
        };
        let stamp = DerivedBy::of(&stored);
        if stamp.format < SNAPSHOT_FORMAT {
            let written_by = format!("{} (snapshot format {})", stamp.writer(), stamp.format);
            return Ok((None, SnapshotUse::Older { written_by }));
        }
        if stamp.format > SNAPSHOT_FORMAT {
            return Ok((
                None,
                ignored(format!(
                    "it was written by {} in snapshot format {}, newer than this build's {SNAPSHOT_FORMAT}",
                    stamp.writer(),
                    stamp.format
                )),
            ));
        }
        let snapshot: Snapshot = match serde_json::from_value(stored) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                return Ok((
                    None,
                    ignored(format!("not a snapshot this build reads: {error}")),
                ))
            }
        };
        if snapshot.tree().is_none() {
            return Ok((
                None,
                ignored("its Merkle tree does not fit the event it covers".to_owned()),
            ));
        }
        if !snapshot.digest_matches() {
            return Ok((
                None,
                ignored(
                    "its digest does not match its content (it was damaged or edited)".to_owned(),
                ),
            ));
        }
        if snapshot.state.goal_id != *self.id {
            return Ok((
                None,
                ignored(format!("it belongs to goal {}", snapshot.state.goal_id)),
            ));
        }
        if !position_in_chain(paths, snapshot.position())? {
            return Ok((
                None,
                ignored(format!(
                    "event seq {} with hash {} is not in the log at byte {}",
                    snapshot.covers.seq, snapshot.covers.hash, snapshot.covers.offset
                )),
            ));
        }
        let seq = snapshot.covers.seq;
        Ok((Some(snapshot), SnapshotUse::Used { seq }))
    }

    /// Appends `events` as one batch stamped `at`, after checking they follow from `base` (or,
    /// for a new goal, from nothing); returns the goal as it now stands.
    pub fn append(
        &self,
        base: Option<&Loaded>,
        at: Timestamp,
        events: Vec<Event>,
    ) -> Result<Loaded, StoreError> {
        let start = base.map_or(Position::START, |loaded| loaded.position);
        let mut state = base.map(|loaded| loaded.state.clone());
        for (index, event) in events.iter().enumerate() {
            let recorded = RecordedEvent {
                seq: start.next_seq + index as u64,
                at,
                event: event.clone(),
            };
            match &mut state {
                Some(state) => state
                    .apply(&recorded)
                    .map_err(|error| StoreError::Refused(error.refusal))?,
                None => {
                    state = Some(
                        GoalState::start(&recorded)
                            .map_err(|error| StoreError::Refused(error.refusal))?,
                    )
                }
            }
        }
        let Some(state) = state else {
            return Err(StoreError::EmptyLog {
                id: self.id.clone(),
                path: self.paths().log().display().to_string(),
            });
        };
        let ids = new_event_ids(events.len())?;
        let new_events = events
            .iter()
            .zip(ids)
            .map(|(event, id)| event.to_new_event(id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut writer = LogWriter::open(&self.paths())?;
        if let Some(key) = &self.signing_key {
            writer.sign_heads_with(Arc::clone(key));
        }
        let appended = writer
            .append(Expected::Seq(start.next_seq), at.instant(), &new_events)
            .map_err(StoreError::Append)?;
        tracing::debug!(
            goal = %self.id,
            kinds = ?events.iter().map(Event::kind).collect::<Vec<_>>(),
            "appended seq {}..={}",
            start.next_seq,
            appended.position.next_seq.saturating_sub(1)
        );
        let loaded = Loaded {
            state,
            position: appended.position,
            tree: appended.tree,
            snapshot: SnapshotUse::Absent,
            folded: events.len() as u64,
        };
        // The batch is durable: the command has happened. Files beside the log are caches
        // and copies, rebuilt from it by the next command that can write them.
        if let Err(error) = projections::write_all(self, &loaded) {
            warn(format!(
                "goal {}: the events are in the log, but the files beside it could not be updated ({error}); the next command rebuilds them",
                self.id
            ));
        }
        Ok(loaded)
    }

    /// Loads the goal, lets `decide` choose the events, and appends them; on a conflict with
    /// another writer, waits a little (doubling, with jitter) and loads and decides again, for
    /// up to `CONTENTION_LIMIT`. `decide` returning no events appends nothing.
    pub fn transact<F>(
        &self,
        at: Timestamp,
        mut decide: F,
    ) -> Result<(Loaded, Vec<Event>), StoreError>
    where
        F: FnMut(&GoalState) -> Result<Vec<Event>, Refusal>,
    {
        #[allow(clippy::disallowed_methods)] // Only for waiting, never recorded.
        let started = std::time::Instant::now();
        let mut wait = FIRST_RACE_WAIT;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let loaded = self.load()?;
            let events = decide(&loaded.state).map_err(StoreError::Refused)?;
            if events.is_empty() {
                return Ok((loaded, events));
            }
            match self.append(Some(&loaded), at, events.clone()) {
                Err(StoreError::Append(AppendError::Conflict { .. }))
                    if started.elapsed() < CONTENTION_LIMIT =>
                {
                    // Another writer won: wait a little (spread, so the losers do not all
                    // come back together), then decide again on what it wrote.
                    std::thread::sleep(jittered(wait));
                    wait = (wait * 2).min(MAX_RACE_WAIT);
                }
                Err(StoreError::Append(AppendError::Conflict { .. })) => {
                    return Err(StoreError::Contended {
                        path: self.paths().log().display().to_string(),
                        attempts,
                        seconds: started.elapsed().as_secs(),
                    })
                }
                result => return result.map(|loaded| (loaded, events)),
            }
        }
    }
}

/// Returns the point of the log the snapshot in `dir` claims to cover, when there is a
/// snapshot that can be read; for `omk log verify`, which checks the claim against the chain.
pub fn snapshot_claim(dir: &Path) -> Option<Position> {
    #[derive(serde::Deserialize)]
    struct Claim {
        covers: crate::project::snapshot::Covers,
    }
    let text = fs::read_to_string(dir.join(SNAPSHOT_FILE)).ok()?;
    let claim: Claim = serde_json::from_str(&text).ok()?;
    Some(Position {
        next_seq: claim.covers.seq + 1,
        offset: claim.covers.offset,
        prev: claim.covers.hash,
    })
}

/// What went wrong after the fact, without undoing what a command did (a projection that
/// could not be written after a durable append): the CLI prints these as warnings.
static WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn warn(message: String) {
    if let Ok(mut warnings) = WARNINGS.lock() {
        if !warnings.contains(&message) {
            warnings.push(message);
        }
    }
}

/// Returns the warnings recorded so far, and forgets them.
pub fn take_warnings() -> Vec<String> {
    WARNINGS
        .lock()
        .map(|mut warnings| std::mem::take(&mut *warnings))
        .unwrap_or_default()
}

fn ignored(reason: String) -> SnapshotUse {
    SnapshotUse::Ignored { reason }
}

fn io_error(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}
