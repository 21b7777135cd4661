//! Task worktrees: one git worktree and branch per implementation slice, and what an agent
//! changed in it.
//!
//! A worktree lives in the state directory beside the goals, never inside a goal's own directory
//! (`worktrees/<goal-id>/<task-id>`, so an agent cannot reach the log), on branch
//! `omk/<goal-id>/<task-id>`. It starts from the goal's base commit, or from its dependencies'
//! branches (merged in dependency order) when it depends on other slices. A retry starts it
//! afresh from the same point (in a fix round, the slice's own earlier work): the branch is
//! reset, never appended to.

use std::path::{Path, PathBuf};

use crate::log::artifacts::{ArtifactRef, ArtifactStore};
use crate::shell::git::{git_paths, git_text, git_to_artifact, run_git, GitError};

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
    /// `git diff --binary start head` as an artifact, and whether it was cut at the cap;
    /// `None` when nothing changed.
    pub diff: Option<(ArtifactRef, bool)>,
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
    /// Returns the commit a fix round builds on (the slice's done work), with the
    /// dependencies' branches merged on top; `None` starts from the base or the dependencies.
    pub builds_on: Option<&'a str>,
    /// The agent CLI's own files, never committed as the agent's work.
    pub side_files: &'a [String],
}

/// Creates (or re-creates, clean) the worktree of a task, starting from its base or its
/// dependencies' branches (merged in order), or in a fix round from the work it had done.
pub fn prepare(repo_root: &Path, placement: Placement<'_>) -> Result<Worktree, WorktreeError> {
    let Placement {
        path,
        branch,
        task_id,
        base,
        dependency_branches,
        keep_ref,
        builds_on,
        side_files,
    } = placement;
    if path.exists() {
        keep_previous_attempt(repo_root, path, task_id, keep_ref, side_files)?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| WorktreeError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let (start, merges) = match (builds_on, dependency_branches.split_first()) {
        (Some(work), _) => (work, dependency_branches),
        (None, Some((first, rest))) => (first.as_str(), rest),
        (None, None) => (base, &[][..]),
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
            let files = conflicted_files(path);
            let _ = run_git(path, &["merge", "--abort"]);
            return Err(WorktreeError::MergeConflict {
                task: task_id.to_owned(),
                dependencies: dependency_branches.join(", "),
                files,
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

/// Directories that hold build output by convention, anywhere in a tree: never the change,
/// even when a repository forgot to ignore them.
const BUILD_OUTPUT_ANYWHERE: [&str; 5] = [
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".tox",
];
/// The same, at the root only: deeper down these names are often source (`cmd/build/`).
const BUILD_OUTPUT_AT_ROOT: [&str; 7] = [
    "target", "dist", "build", ".venv", "venv", ".gradle", ".next",
];

/// Returns exclude pathspecs for the build output directories that hold no tracked file in
/// the worktree at `path` (a repository that tracks its `build/` keeps it in the change).
fn untracked_build_output(path: &Path) -> Result<Vec<String>, GitError> {
    let globs: Vec<String> = BUILD_OUTPUT_ANYWHERE
        .iter()
        .map(|dir| format!("**/{dir}/**"))
        .chain(BUILD_OUTPUT_AT_ROOT.iter().map(|dir| format!("{dir}/**")))
        .collect();
    let patterns: Vec<String> = globs.iter().map(|glob| format!(":(glob){glob}")).collect();
    let mut args = vec!["ls-files", "-z", "--"];
    args.extend(patterns.iter().map(String::as_str));
    let tracked = git_paths(path, &args)?;
    let holds_tracked = |dir: &str, anywhere: bool| {
        tracked.iter().any(|file| {
            file.starts_with(&format!("{dir}/")) || (anywhere && file.contains(&format!("/{dir}/")))
        })
    };
    Ok(BUILD_OUTPUT_ANYWHERE
        .iter()
        .filter(|dir| !holds_tracked(dir, true))
        .map(|dir| format!(":(exclude,glob)**/{dir}/**"))
        .chain(
            BUILD_OUTPUT_AT_ROOT
                .iter()
                .filter(|dir| !holds_tracked(dir, false))
                .map(|dir| format!(":(exclude,glob){dir}/**")),
        )
        .collect())
}

/// Stages everything in the worktree at `path` except the agent CLI's own `side_files`
/// (pathspec globs such as `.aider*`), which are never part of the change. The exclusion is a
/// pathspec, not `info/exclude`, which a worktree shares with the user's repository.
fn stage_all(path: &Path, side_files: &[String]) -> Result<(), GitError> {
    let mut excludes: Vec<String> = side_files
        .iter()
        .map(|pattern| format!(":(exclude){pattern}"))
        .collect();
    excludes.extend(untracked_build_output(path)?);
    let mut args = vec!["add", "--all", "--", "."];
    args.extend(excludes.iter().map(String::as_str));
    run_git(path, &args).map(|_| ())
}

/// Keeps what the previous attempt left in the worktree at `path` before it is re-created: its
/// uncommitted work committed, and its tip under `keep_ref`. Any failure stops here, before
/// anything is removed, so no work is thrown away.
fn keep_previous_attempt(
    repo_root: &Path,
    path: &Path,
    task_id: &str,
    keep_ref: &str,
    side_files: &[String],
) -> Result<(), WorktreeError> {
    // The previous agent and everything it started are gone (the supervisor saw to it), so
    // an index lock it left behind, killed mid-commit, is stale.
    let lock = path.join(git_text(path, &["rev-parse", "--git-path", "index.lock"])?);
    if lock.exists() {
        std::fs::remove_file(&lock).map_err(|source| WorktreeError::Io {
            path: lock.display().to_string(),
            source,
        })?;
    }
    stage_all(path, side_files)?;
    if !run_git(path, &["diff", "--cached", "--name-only", "-z"])?.is_empty() {
        let message = format!("omk: what {task_id}'s interrupted attempt left");
        run_git(path, &["commit", "--quiet", "--no-verify", "-m", &message])?;
    }
    let tip = git_text(path, &["rev-parse", "HEAD"])?;
    run_git(repo_root, &["update-ref", keep_ref, &tip])?;
    Ok(())
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

/// The most bytes of a slice's diff kept as evidence; a longer one is kept cut and flagged.
pub const MAX_DIFF_BYTES: u64 = 256 << 20;

/// Commits whatever the agent left uncommitted, then returns everything that changed since
/// `start_commit`, the diff streamed into `store` as `diff_name`. The agent's own commits are
/// kept as they are.
pub fn collect(
    path: &Path,
    task_id: &str,
    start_commit: &str,
    store: &ArtifactStore,
    diff_name: &str,
    side_files: &[String],
) -> Result<Changes, WorktreeError> {
    stage_all(path, side_files)?;
    let committed_leftovers =
        !run_git(path, &["diff", "--cached", "--name-only", "-z"])?.is_empty();
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
    let mut changed_files = git_paths(
        path,
        &[
            "diff",
            "--no-renames",
            "--name-only",
            "-z",
            start_commit,
            &head_commit,
        ],
    )?;
    changed_files.sort();
    let (insertions, deletions) = line_counts(&run_git(
        path,
        &[
            "diff",
            "--no-renames",
            "--numstat",
            "-z",
            start_commit,
            &head_commit,
        ],
    )?);
    let diff = if changed_files.is_empty() {
        None
    } else {
        let captured = git_to_artifact(
            path,
            &["diff", "--binary", start_commit, &head_commit],
            store.clone(),
            diff_name,
            "text/x-diff",
            MAX_DIFF_BYTES,
        )?;
        captured
            .artifact
            .map(|artifact| (artifact, captured.truncated))
    };
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

/// Returns the lines added and removed in `git diff --numstat -z` output; binary files show
/// `-` and count as changed files, not as lines.
fn line_counts(numstat: &[u8]) -> (u64, u64) {
    let (mut insertions, mut deletions) = (0, 0);
    for record in numstat.split(|byte| *byte == 0) {
        let mut fields = record.split(|byte| *byte == b'\t');
        let mut count = || {
            fields
                .next()
                .and_then(|field| std::str::from_utf8(field).ok())
                .and_then(|field| field.parse::<u64>().ok())
                .unwrap_or(0)
        };
        insertions += count();
        deletions += count();
    }
    (insertions, deletions)
}

/// Returns whether the worktree at `path` has uncommitted changes (work `clean` would lose).
pub fn is_dirty(path: &Path) -> Result<bool, WorktreeError> {
    Ok(!run_git(path, &["status", "--porcelain", "-z"])?.is_empty())
}

/// Removes the worktree at `path`; its branch (and so its commits) stays.
pub fn remove(repo_root: &Path, path: &Path) -> Result<(), WorktreeError> {
    run_git(
        repo_root,
        &["worktree", "remove", "--force", &path.display().to_string()],
    )?;
    Ok(())
}

/// Returns the paths a failed merge in `path` left conflicted.
pub fn conflicted_files(path: &Path) -> Vec<String> {
    git_paths(path, &["diff", "--name-only", "-z", "--diff-filter=U"]).unwrap_or_default()
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::git::committed_repo;

    #[test]
    fn an_agent_clis_side_files_are_never_part_of_the_change() {
        let dir = committed_repo(&[("README.md", "# r\n")]);
        let root = dir.path();
        let git = |args: &[&str]| git_text(root, args).unwrap();
        let start = git(&["rev-parse", "HEAD"]);
        std::fs::create_dir_all(root.join(".aider.tags.cache.v4")).unwrap();
        std::fs::write(root.join(".aider.tags.cache.v4/cache.db"), "cache").unwrap();
        std::fs::write(root.join(".aider.chat.history.md"), "chat").unwrap();
        std::fs::write(root.join("src.rs"), "fn main() {}\n").unwrap();
        // Build output the repository forgot to ignore is not the change either.
        std::fs::create_dir_all(root.join("target/debug")).unwrap();
        std::fs::write(root.join("target/debug/liba.rlib"), "rlib").unwrap();
        std::fs::create_dir_all(root.join("pkg/__pycache__")).unwrap();
        std::fs::write(root.join("pkg/__pycache__/a.pyc"), "pyc").unwrap();
        // Deeper down, such a name is source: `cmd/build/main.go` is the change.
        std::fs::create_dir_all(root.join("cmd/build")).unwrap();
        std::fs::write(root.join("cmd/build/main.go"), "package main\n").unwrap();
        let store = ArtifactStore::new(root.join(".git/omk-test-artifacts"));
        let changes = collect(
            root,
            "slice-1",
            &start,
            &store,
            "diff.patch",
            &[".aider*".to_owned()],
        )
        .unwrap();
        assert_eq!(changes.changed_files, ["cmd/build/main.go", "src.rs"]);
        assert!(changes.committed_leftovers);
    }
}
