//! `omk goal push` and `omk goal fetch`: goals travel between clones through git itself.
//!
//! A goal's log, its checkpoint and its artifacts (never its worktrees or projections) are
//! stored as a tree committed under `refs/omk/goals/<goal-id>`, each push on top of the last,
//! and pushed like any ref; a rewritten history is a non-fast-forward the remote refuses.
//! Fetching brings those refs into `refs/omk/fetched/<remote>/` and adopts each log into
//! `.omk/goals/` only when the log held here is a prefix of it (`log::adopt`): a copy that
//! rewrites history is refused, and nothing held here is ever shortened or replaced.

use std::fs;
use std::path::Path;

use crate::log::adopt::{adopt, AdoptError, Adopted};
use crate::log::chain::{Head, Position};
use crate::log::checkpoint::{read_checkpoint, Checkpoint};
use crate::log::merkle::{leaf_hash, RootBuilder};
use crate::log::paths::{LogPaths, LOG_FILE_NAME};
use crate::log::reader::{LogReader, ReadError};
use crate::shell::git::{git_text, run_git, GitError};
use crate::shell::git_store::{read_files, store_files};
use crate::store::{GoalDir, StateDir};

/// The ref a goal is stored under in a repository.
pub fn goal_ref(goal_id: &str) -> String {
    format!("refs/omk/goals/{goal_id}")
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The goal's ref.
    pub reference: String,
    /// The commit the ref names.
    pub commit: String,
    /// The log's head as stored (its complete batches).
    pub head: Head,
    /// How many artifacts were stored with it.
    pub artifacts: usize,
    /// Whether the log changed since the goal was last stored here.
    pub changed: bool,
}

/// A goal could not be pushed or fetched.
#[derive(Debug, thiserror::Error)]
pub enum TravelError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the log of goal {0} is empty: there is nothing to push")]
    Empty(String),
    #[error("there is no remote `{0}` in this repository")]
    NoRemote(String),
    #[error("`{remote}` holds another history of goal {goal_id} than this clone: the push was refused ({detail})")]
    Rejected {
        remote: String,
        goal_id: String,
        detail: String,
    },
    #[error("cannot stage the goal's files in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Stores the goal under its ref in `repo_root` and pushes the ref to `remote`.
pub fn push_goal(goal: &GoalDir, repo_root: &Path, remote: &str) -> Result<Pushed, TravelError> {
    check_remote(repo_root, remote)?;
    let staging = tempfile::tempdir().map_err(|source| TravelError::Io {
        path: std::env::temp_dir().display().to_string(),
        source,
    })?;
    let (head, files) = stage(goal, staging.path())?;
    let reference = goal_ref(goal.id());
    let message = format!(
        "omk goal {}: log head seq {} ({})",
        goal.id(),
        head.seq,
        head.hash
    );
    let stored = store_files(repo_root, staging.path(), &files, &reference, &message)?;
    let refspec = format!("{reference}:{reference}");
    run_git(repo_root, &["push", "--quiet", remote, &refspec]).map_err(|error| {
        TravelError::Rejected {
            remote: remote.to_owned(),
            goal_id: goal.id().to_owned(),
            detail: error.detail,
        }
    })?;
    Ok(Pushed {
        reference,
        commit: stored.commit,
        head,
        artifacts: files.len() - 2,
        changed: stored.changed,
    })
}

/// Returns the checkpoint that travels with the log through `end`: the one held here when it
/// names that very head (it carries the head's signature), else one made from `tree`.
fn travelling_checkpoint(
    paths: &LogPaths,
    end: Position,
    tree: &RootBuilder,
) -> Option<Checkpoint> {
    let made = Checkpoint::at(end, tree)?;
    let held = read_checkpoint(paths).ok().flatten();
    Some(match held {
        Some(held) if held.seq == made.seq && held.hash == made.hash && held.tree == made.tree => {
            held
        }
        _ => made,
    })
}

/// Copies the goal's complete batches, a checkpoint naming their end, and its artifacts into
/// `into`; returns the head and the files' relative paths.
fn stage(goal: &GoalDir, into: &Path) -> Result<(Head, Vec<String>), TravelError> {
    let paths = goal.paths();
    let mut reader = LogReader::open(&paths)?;
    let mut tree = RootBuilder::default();
    for raw in reader.by_ref() {
        tree.push(leaf_hash(&raw?.hash()));
    }
    // Only whole batches travel: an append under way now is not half taken.
    let end = reader.position();
    let checkpoint = travelling_checkpoint(&paths, end, &tree)
        .ok_or_else(|| TravelError::Empty(goal.id().to_owned()))?;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TravelError::Io { path, source }
    };
    let log = fs::read(paths.log()).map_err(io(paths.log()))?;
    let prefix = log.get(..end.offset as usize).unwrap_or(&log);
    fs::write(into.join(LOG_FILE_NAME), prefix).map_err(io(into))?;
    let mut head_json = serde_json::to_vec(&checkpoint).unwrap_or_default();
    head_json.push(b'\n');
    let head_file = LogPaths::for_log(into.join(LOG_FILE_NAME)).checkpoint();
    fs::write(&head_file, head_json).map_err(io(&head_file))?;
    let mut files = vec![
        LOG_FILE_NAME.to_owned(),
        head_file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
    ];
    let artifacts = paths.artifacts();
    let staged_artifacts = into.join("artifacts");
    fs::create_dir_all(&staged_artifacts).map_err(io(&staged_artifacts))?;
    let mut names: Vec<String> = fs::read_dir(&artifacts)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in names {
        let target = staged_artifacts.join(&name);
        fs::copy(artifacts.join(&name), &target).map_err(io(&target))?;
        files.push(format!("artifacts/{name}"));
    }
    Ok((checkpoint_head(&checkpoint), files))
}

fn checkpoint_head(checkpoint: &Checkpoint) -> Head {
    Head {
        seq: checkpoint.seq,
        hash: checkpoint.hash,
    }
}

fn check_remote(repo_root: &Path, remote: &str) -> Result<(), TravelError> {
    git_text(repo_root, &["remote", "get-url", remote])
        .map(|_| ())
        .map_err(|_| TravelError::NoRemote(remote.to_owned()))
}

/// What fetching did to one goal.
#[derive(Debug)]
pub struct Fetched {
    pub goal_id: String,
    /// What adopting the remote's log did here, or why it was refused.
    pub outcome: Result<Adopted, AdoptError>,
}

/// Fetches the goals `remote` holds (only `only` when given) and adopts each into `state`.
pub fn fetch_goals(
    state: &StateDir,
    repo_root: &Path,
    remote: &str,
    only: Option<&str>,
) -> Result<Vec<Fetched>, TravelError> {
    check_remote(repo_root, remote)?;
    let pattern = only.unwrap_or("*");
    let fetched_prefix = format!("refs/omk/fetched/{remote}/");
    let refspec = format!("+refs/omk/goals/{pattern}:{fetched_prefix}{pattern}");
    run_git(
        repo_root,
        &["fetch", "--quiet", "--no-tags", remote, &refspec],
    )?;
    let listed = git_text(
        repo_root,
        &["for-each-ref", "--format=%(refname)", &fetched_prefix],
    )?;
    let mut fetched = Vec::new();
    for reference in listed.lines() {
        let goal_id = reference.trim_start_matches(&fetched_prefix);
        let plausible = goal_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !goal_id.starts_with('.');
        if !plausible || only.is_some_and(|only| only != goal_id) {
            continue;
        }
        let staging = tempfile::tempdir().map_err(|source| TravelError::Io {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
        read_files(repo_root, reference, staging.path())?;
        let copy = LogPaths::for_log(staging.path().join(LOG_FILE_NAME));
        let outcome = adopt(&state.goal(goal_id).paths(), &copy);
        if outcome.is_ok() {
            remember(repo_root, goal_id, reference)?;
        }
        fetched.push(Fetched {
            goal_id: goal_id.to_owned(),
            outcome,
        });
    }
    Ok(fetched)
}

/// Points the goal's own ref at what was fetched when that only moves it forward, so that a
/// later push from this clone builds on the remote's history.
fn remember(repo_root: &Path, goal_id: &str, fetched: &str) -> Result<(), GitError> {
    let reference = goal_ref(goal_id);
    let forward = match git_text(repo_root, &["rev-parse", "--verify", "--quiet", &reference]) {
        Err(_) => true,
        Ok(own) => run_git(repo_root, &["merge-base", "--is-ancestor", &own, fetched]).is_ok(),
    };
    if forward {
        run_git(repo_root, &["update-ref", &reference, fetched])?;
    }
    Ok(())
}
