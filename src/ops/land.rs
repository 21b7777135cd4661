//! `omk goal land`: put an accepted, ready goal's result on a branch of the user's repository.
//!
//! When the branch has not moved since the goal's base, the landed tree is the claimed tree,
//! whose evidence the proof holds. When it has moved, the result is merged onto it without a
//! checkout (`git merge-tree`); that tree was never verified, so the required gates run on it
//! (recorded as landing runs) and it lands only if every one passes. The branch moves by a
//! fast-forward of the checkout it is checked out in (which must have no uncommitted changes
//! to tracked files) or, when no checkout holds it, by a compare-and-swap of its ref, then
//! `goal_landed` records it. Nothing is pushed unless asked.

use std::path::{Path, PathBuf};

use crate::event::{Event, GoalId, GoalLanded, GoalPruned, LandMethod};
use crate::ops::clean::clean_goal;
use crate::ops::gc::{prune_goal, GcError};
use crate::ops::verify::{
    run_gates, GateOutcome, GateRole, VerifyError, VerifyProgress, VerifyRequest,
};
use crate::project::proof::proof;
use crate::project::pull_request::pull_request;
use crate::shell::clock::Clock;
use crate::shell::git::{git_text, merge_tree, nul_separated, run_git, GitError, MergedTree};
use crate::shell::worktree::{checkout_fresh, remove};
use crate::state::commands::GoalCommand;
use crate::state::verdict::short;
use crate::state::GoalState;
use crate::store::{GoalDir, Loaded, StoreError};

/// The notes ref the proof's summary is attached under (`refs/notes/omk`).
pub const NOTES_REF: &str = "omk";

/// What to land, where and how.
#[derive(Clone, Debug)]
pub struct LandRequest {
    /// The branch to land on; `None` for the branch the user's checkout is on.
    pub into: Option<String>,
    pub method: LandMethod,
    /// The gates; the required ones run again when the branch has moved.
    pub verify: VerifyRequest,
    /// The remote to push the branch to afterwards, when asked.
    pub push: Option<String>,
    /// Afterwards, remove every worktree of the goal and delete its branches too.
    pub prune: bool,
    /// Attach the proof's summary to the landed commit as a git note under `refs/notes/omk`
    /// (pushed with the branch when pushing).
    pub notes: bool,
}

/// What a land did.
#[derive(Debug)]
pub struct LandOutcome {
    /// The goal afterwards.
    pub loaded: Loaded,
    /// The landing, or why it did not happen (nothing was landed).
    pub result: Result<GoalLanded, NotLanded>,
    /// The gate runs on the landed tree, when the branch had moved.
    pub ran: Vec<GateOutcome>,
    /// How many of the slices' worktrees were removed after landing (without `prune`).
    pub worktrees_removed: usize,
    /// What `prune` removed after landing.
    pub pruned: Option<GoalPruned>,
    /// The remote the branch was pushed to.
    pub pushed: Option<String>,
}

/// Why a land stopped before moving the branch: a blocker the goal's evidence cannot answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotLanded {
    /// The branch moved since the goal's base and the result conflicts with it.
    Conflict {
        into: String,
        onto: String,
        files: Vec<String>,
    },
    /// The branch moved, and on the combined tree these required gates did not pass.
    GatesFailed { into: String, gates: Vec<String> },
    /// Ctrl-C stopped the gates on the combined tree.
    Interrupted,
}

/// The land could not run.
#[derive(Debug, thiserror::Error)]
pub enum LandError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Verify(Box<VerifyError>),
    #[error("goal {goal_id} has no claimed tree to land")]
    NoResult { goal_id: GoalId },
    #[error("the checkout is on no branch (detached HEAD): pass --into BRANCH")]
    Detached,
    #[error("there is no branch `{0}` in this repository")]
    NoBranch(String),
    #[error("{} has uncommitted changes to tracked files ({}): omk never touches uncommitted work", checkout.display(), files.join(", "))]
    Dirty {
        checkout: PathBuf,
        files: Vec<String>,
    },
    #[error(
        "`{into}` moved since the goal's base ({} → {}): a fast-forward cannot land it",
        short(base),
        short(onto)
    )]
    CannotFastForward {
        into: String,
        base: String,
        onto: String,
    },
    #[error(
        "`{into}` moved while the goal was landing (it is no longer at {}): nothing was landed",
        short(onto)
    )]
    Raced { into: String, onto: String },
    #[error("landed, but pruning the goal's worktrees and branches failed: {0}")]
    Prune(#[from] GcError),
    #[error(
        "goal {goal_id} landed on `{into}` at {}, but recording it failed: {source}",
        short(commit)
    )]
    NotRecorded {
        goal_id: GoalId,
        into: String,
        commit: String,
        source: Box<StoreError>,
    },
}

impl From<StoreError> for LandError {
    fn from(error: StoreError) -> LandError {
        LandError::Store(Box::new(error))
    }
}

impl From<VerifyError> for LandError {
    fn from(error: VerifyError) -> LandError {
        LandError::Verify(Box::new(error))
    }
}

/// Lands the goal's result on a branch of the repository at `repo_root`.
pub fn land_goal(
    goal: &GoalDir,
    repo_root: &Path,
    clock: &Clock,
    request: &LandRequest,
    progress: &mut (dyn FnMut(VerifyProgress) + Send),
) -> Result<LandOutcome, LandError> {
    let loaded = goal.load()?;
    let state = &loaded.state;
    state
        .check_command(GoalCommand::Land)
        .map_err(|refusal| LandError::from(StoreError::Refused(refusal)))?;
    let result = state.result.clone().ok_or_else(|| LandError::NoResult {
        goal_id: state.goal_id.clone(),
    })?;
    let into = match &request.into {
        Some(branch) => branch.clone(),
        None => git_text(repo_root, &["symbolic-ref", "--quiet", "--short", "HEAD"])
            .map_err(|_| LandError::Detached)?,
    };
    let onto = git_text(
        repo_root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{into}^{{commit}}"),
        ],
    )
    .map_err(|_| LandError::NoBranch(into.clone()))?;
    let checkout = checkout_of(repo_root, &into)?;
    if let Some(checkout) = &checkout {
        let files = nul_separated(&run_git(
            checkout,
            &["status", "--porcelain", "-z", "--untracked-files=no"],
        )?);
        if !files.is_empty() {
            return Err(LandError::Dirty {
                checkout: checkout.clone(),
                files: files
                    .iter()
                    .map(|entry| entry.get(3..).unwrap_or(entry).to_owned())
                    .collect(),
            });
        }
    }
    let base = state.base_commit.clone().unwrap_or_default();
    let moved = onto != base;
    let message = commit_message(state, &loaded);
    let (commit, tree) = match (request.method, moved) {
        (LandMethod::FastForward, true) => {
            return Err(LandError::CannotFastForward { into, base, onto })
        }
        (LandMethod::FastForward, false) => (result.commit.clone(), result.tree.clone()),
        (method, false) => (
            new_commit(
                repo_root,
                method,
                &result.tree,
                &onto,
                &result.commit,
                &message,
            )?,
            result.tree.clone(),
        ),
        (method, true) => match merge_tree(repo_root, &onto, &result.commit)? {
            MergedTree::Conflicted { files } => {
                return Ok(not_landed(
                    loaded,
                    NotLanded::Conflict { into, onto, files },
                    Vec::new(),
                ))
            }
            MergedTree::Clean { tree } => (
                new_commit(repo_root, method, &tree, &onto, &result.commit, &message)?,
                tree,
            ),
        },
    };
    let reverified = tree != result.tree;
    let mut ran = Vec::new();
    if reverified {
        let path = goal.worktrees_dir().join("_land");
        checkout_fresh(repo_root, &path, None, &commit)?;
        let verify = VerifyRequest {
            gates: request
                .verify
                .gates
                .iter()
                .filter(|gate| gate.required)
                .cloned()
                .collect(),
            ..request.verify.clone()
        };
        let checked = run_gates(
            goal,
            clock,
            &verify,
            &path,
            &GateRole::Landing,
            progress,
            &mut ran,
        );
        let _ = remove(repo_root, &path);
        checked?;
        if verify.interrupt.is_set() {
            return Ok(not_landed(goal.load()?, NotLanded::Interrupted, ran));
        }
        let failed: Vec<String> = ran
            .iter()
            .filter(|run| !run.passed)
            .map(|run| run.gate.to_string())
            .collect();
        if !failed.is_empty() {
            let blocker = NotLanded::GatesFailed {
                into,
                gates: failed,
            };
            return Ok(not_landed(goal.load()?, blocker, ran));
        }
    }
    move_branch(repo_root, checkout.as_deref(), &into, &onto, &commit)?;
    let landed = GoalLanded {
        into: into.clone(),
        method: request.method,
        onto,
        commit: commit.clone(),
        tree,
        reverified,
    };
    goal.transact(clock.now(), |_| Ok(vec![Event::GoalLanded(landed.clone())]))
        .map_err(|source| LandError::NotRecorded {
            goal_id: state.goal_id.clone(),
            into: into.clone(),
            commit: commit.clone(),
            source: Box::new(source),
        })?;
    // Tidy up: the slices' worktrees are no longer needed; their branches stay as evidence
    // unless asked to prune them too.
    let (worktrees_removed, pruned) = if request.prune {
        (0, Some(prune_goal(goal, repo_root, clock)?))
    } else {
        let cleaned = clean_goal(goal, repo_root, clock, false);
        (cleaned.map_or(0, |cleaned| cleaned.removed.len()), None)
    };
    if request.notes {
        let summary = pull_request(&proof(state, loaded.head(), loaded.tree_head()), &into).body;
        run_git(
            repo_root,
            &[
                "notes",
                "--ref",
                NOTES_REF,
                "add",
                "--force",
                "--message",
                &summary,
                &commit,
            ],
        )?;
    }
    let pushed = match &request.push {
        Some(remote) => {
            let branch = format!("refs/heads/{into}");
            let notes = format!("refs/notes/{NOTES_REF}");
            let mut refs = vec![branch.as_str()];
            if request.notes {
                refs.push(notes.as_str());
            }
            let mut args = vec!["push", "--quiet", remote.as_str()];
            args.extend(refs);
            run_git(repo_root, &args)?;
            Some(remote.clone())
        }
        None => None,
    };
    Ok(LandOutcome {
        loaded: goal.load()?,
        result: Ok(landed),
        ran,
        worktrees_removed,
        pruned,
        pushed,
    })
}

fn not_landed(loaded: Loaded, why: NotLanded, ran: Vec<GateOutcome>) -> LandOutcome {
    LandOutcome {
        loaded,
        result: Err(why),
        ran,
        worktrees_removed: 0,
        pruned: None,
        pushed: None,
    }
}

/// Returns the checkout (worktree) that has `branch` checked out, if one does.
fn checkout_of(repo_root: &Path, branch: &str) -> Result<Option<PathBuf>, GitError> {
    let listing = nul_separated(&run_git(
        repo_root,
        &["worktree", "list", "--porcelain", "-z"],
    )?);
    let wanted = format!("branch refs/heads/{branch}");
    let mut current: Option<PathBuf> = None;
    for field in listing {
        if let Some(path) = field.strip_prefix("worktree ") {
            current = Some(PathBuf::from(path));
        } else if field == wanted {
            return Ok(current);
        }
    }
    Ok(None)
}

/// Returns a new commit of `tree` on `onto`: one parent for a squash, the result as a second
/// parent for a merge.
fn new_commit(
    repo_root: &Path,
    method: LandMethod,
    tree: &str,
    onto: &str,
    result: &str,
    message: &str,
) -> Result<String, GitError> {
    let mut args = vec!["commit-tree", tree, "-p", onto];
    if method == LandMethod::Merge {
        args.extend(["-p", result]);
    }
    args.extend(["-m", message]);
    git_text(repo_root, &args)
}

/// Moves `into` from `onto` to `commit`: a fast-forward of the checkout that has it checked
/// out, or a compare-and-swap of the ref when none does.
fn move_branch(
    repo_root: &Path,
    checkout: Option<&Path>,
    into: &str,
    onto: &str,
    commit: &str,
) -> Result<(), LandError> {
    let raced = || LandError::Raced {
        into: into.to_owned(),
        onto: onto.to_owned(),
    };
    match checkout {
        Some(checkout) => {
            if git_text(checkout, &["rev-parse", "HEAD"])? != onto {
                return Err(raced());
            }
            run_git(checkout, &["merge", "--ff-only", "--quiet", commit])?;
        }
        None => {
            let reference = format!("refs/heads/{into}");
            run_git(
                repo_root,
                &[
                    "update-ref",
                    "-m",
                    "omk goal land",
                    &reference,
                    commit,
                    onto,
                ],
            )
            .map_err(|_| raced())?;
        }
    }
    Ok(())
}

/// Returns the landed commit's message: the prompt's first line, then the goal, its verdict
/// and the proof's log head, with trailers for tools.
fn commit_message(state: &GoalState, loaded: &Loaded) -> String {
    let title = crate::project::pull_request::title(&state.prompt);
    let head = loaded.head();
    let summary = state
        .integration
        .as_ref()
        .map_or(String::new(), |decision| format!(" ({})", decision.note));
    format!(
        "{title}\n\nLanded by omk from goal {id}: ready, accepted{summary}.\nThe proof speaks for log head seq {seq} ({hash}); check it with `omk replay {id} --verify`.\n\nOmk-Goal: {id}\nOmk-Verdict: ready\nOmk-Log-Head: {seq} {hash}\n",
        id = state.goal_id,
        seq = head.seq,
        hash = head.hash,
    )
}
