//! Task worktrees: one git worktree and branch per implementation slice, and what an agent
//! changed in it.
//!
//! A worktree lives under the goal's state (`worktrees/<task-id>`) on branch
//! `omk/<goal-id>/<task-id>`. It starts from the goal's base commit, or from its dependencies'
//! branches (merged in dependency order) when it depends on other slices. A retry starts it
//! afresh from the same point: the branch is reset, never appended to.

use std::path::{Path, PathBuf};

use crate::exec::git::{git_text, run_git, GitError};

/// A prepared worktree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    /// Returns the commit the worktree starts from (after merging dependencies).
    pub start_commit: String,
}

/// What omk found in a worktree after its agent ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes {
    pub head_commit: String,
    pub commits: Vec<String>,
    pub committed_leftovers: bool,
    pub changed_files: Vec<String>,
    pub insertions: u64,
    pub deletions: u64,
    /// Returns `git diff --binary start head`.
    pub diff: Vec<u8>,
}

/// A worktree could not be prepared or read.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("merging the branches of {dependencies} for task `{task}` conflicts in: {}", files.join(", "))]
    MergeConflict {
        task: String,
        dependencies: String,
        files: Vec<String>,
    },
    #[error("cannot create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Returns the branch of a task: `omk/<goal-id>/<task-id>`.
pub fn branch_name(goal_id: &str, task_id: &str) -> String {
    format!("omk/{goal_id}/{task_id}")
}

/// Returns the ref that keeps attempt `attempt` of a task once a retry resets its branch:
/// `refs/omk/<goal-id>/<task-id>/attempt-<n>`.
pub fn attempt_ref(goal_id: &str, task_id: &str, attempt: u32) -> String {
    format!("refs/omk/{goal_id}/{task_id}/attempt-{attempt}")
}

/// Where a task is checked out and from what.
#[derive(Clone, Copy, Debug)]
pub struct Placement<'a> {
    pub path: &'a Path,
    pub branch: &'a str,
    pub task_id: &'a str,
    /// Returns the commit to start from when the task has no dependency branches.
    pub base: &'a str,
    /// Returns the branches of the task's dependencies, in dependency order.
    pub dependency_branches: &'a [String],
    /// Returns the ref that keeps a previous attempt's work when the worktree is re-created.
    pub keep_ref: &'a str,
}

/// Creates (or re-creates, clean) the worktree of a task, starting from its base or its
/// dependencies' branches (merged in order).
pub fn prepare(repo_root: &Path, placement: Placement<'_>) -> Result<Worktree, WorktreeError> {
    let Placement {
        path,
        branch,
        task_id,
        base,
        dependency_branches,
        keep_ref,
    } = placement;
    if path.exists() {
        // A retry starts afresh, but no work is thrown away: what the last attempt left
        // uncommitted is committed, and its tip is kept under `keep_ref` before the branch
        // is reset.
        let _ = run_git(path, &["add", "--all"]);
        let message = format!("omk: what {task_id}'s interrupted attempt left");
        let _ = run_git(path, &["commit", "--quiet", "--no-verify", "-m", &message]);
        if let Ok(tip) = git_text(path, &["rev-parse", "HEAD"]) {
            run_git(repo_root, &["update-ref", keep_ref, &tip])?;
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| WorktreeError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let (start, merges) = match dependency_branches.split_first() {
        Some((first, rest)) => (first.as_str(), rest),
        None => (base, &[][..]),
    };
    checkout_fresh(repo_root, path, Some(branch), start)?;
    for dependency in merges {
        let merged = run_git(
            path,
            &[
                "merge",
                "--no-ff",
                "--no-edit",
                "-m",
                &format!("omk: merge {dependency} into {task_id}"),
                dependency,
            ],
        );
        if merged.is_err() {
            let files =
                git_text(path, &["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
            let _ = run_git(path, &["merge", "--abort"]);
            return Err(WorktreeError::MergeConflict {
                task: task_id.to_owned(),
                dependencies: dependency_branches.join(", "),
                files: files.lines().map(str::to_owned).collect(),
            });
        }
    }
    let start_commit = git_text(path, &["rev-parse", "HEAD"])?;
    Ok(Worktree {
        path: path.to_path_buf(),
        branch: branch.to_owned(),
        start_commit,
    })
}

/// Removes any worktree at `path` and checks out `commit` there afresh: on `branch` (created
/// or reset to `commit`), or detached when `branch` is `None`.
pub fn checkout_fresh(
    repo_root: &Path,
    path: &Path,
    branch: Option<&str>,
    commit: &str,
) -> Result<(), GitError> {
    let location = path.display().to_string();
    if path.exists() {
        run_git(repo_root, &["worktree", "remove", "--force", &location])?;
    }
    let _ = run_git(repo_root, &["worktree", "prune"]);
    match branch {
        Some(branch) => run_git(
            repo_root,
            &[
                "worktree", "add", "--force", "-B", branch, &location, commit,
            ],
        )?,
        None => run_git(
            repo_root,
            &["worktree", "add", "--force", "--detach", &location, commit],
        )?,
    };
    Ok(())
}

/// Commits whatever the agent left uncommitted, then returns everything that changed since
/// `start_commit`. The agent's own commits are kept as they are.
pub fn collect(path: &Path, task_id: &str, start_commit: &str) -> Result<Changes, WorktreeError> {
    run_git(path, &["add", "--all"])?;
    let staged = git_text(path, &["diff", "--cached", "--name-only"])?;
    let committed_leftovers = !staged.is_empty();
    if committed_leftovers {
        run_git(
            path,
            &[
                "commit",
                "--quiet",
                "--no-verify",
                "-m",
                &format!("omk: changes {task_id}'s agent left uncommitted"),
            ],
        )?;
    }
    let head_commit = git_text(path, &["rev-parse", "HEAD"])?;
    let range = format!("{start_commit}..{head_commit}");
    let commits = lines(&git_text(path, &["rev-list", "--reverse", &range])?);
    let mut changed_files = lines(&git_text(
        path,
        &["diff", "--name-only", start_commit, &head_commit],
    )?);
    changed_files.sort();
    let (mut insertions, mut deletions) = (0, 0);
    for line in git_text(path, &["diff", "--numstat", start_commit, &head_commit])?.lines() {
        let mut fields = line.split('\t');
        // Binary files show `-`: they count as changed files, not as lines.
        insertions += fields
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        deletions += fields
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    let diff = run_git(path, &["diff", "--binary", start_commit, &head_commit])?;
    Ok(Changes {
        head_commit,
        commits,
        committed_leftovers,
        changed_files,
        insertions,
        deletions,
        diff,
    })
}

/// Returns whether the worktree at `path` has uncommitted changes (work `clean` would lose).
pub fn is_dirty(path: &Path) -> Result<bool, WorktreeError> {
    Ok(!git_text(path, &["status", "--porcelain"])?.is_empty())
}

/// Removes the worktree at `path`; its branch (and so its commits) stays.
pub fn remove(repo_root: &Path, path: &Path) -> Result<(), WorktreeError> {
    run_git(
        repo_root,
        &["worktree", "remove", "--force", &path.display().to_string()],
    )?;
    Ok(())
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}
