//! Git, run non-interactively: no editor, no pager, no credential prompts.
//!
//! Returns facts about a repository (its root, its head commit, its tracked files); callers
//! treat "not a git repository" as a fact, not an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::process::{run, Finished, ProcessError, Run};

/// How long one git query may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment every git command gets, so it never waits for a person.
/// Commits omk makes itself (an agent's leftovers, merges of dependencies) are authored by omk.
const NON_INTERACTIVE: [(&str, &str); 9] = [
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_EDITOR", "true"),
    ("GIT_PAGER", "cat"),
    ("GIT_ASKPASS", "true"),
    ("LC_ALL", "C"),
    ("GIT_AUTHOR_NAME", "omk"),
    ("GIT_AUTHOR_EMAIL", "omk@localhost"),
    ("GIT_COMMITTER_NAME", "omk"),
    ("GIT_COMMITTER_EMAIL", "omk@localhost"),
];

/// Git failed at something omk needed.
#[derive(Debug, thiserror::Error)]
#[error("`git {command}` in {dir} failed: {detail}")]
pub struct GitError {
    pub command: String,
    pub dir: String,
    pub detail: String,
}

/// Runs `git args…` in `dir` and returns its stdout, or the error with git's own message.
pub fn run_git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let error = |detail: String| GitError {
        command: args.join(" "),
        dir: dir.display().to_string(),
        detail,
    };
    let finished = git(dir, args).map_err(|failure| error(failure.to_string()))?;
    if finished.code == Some(0) {
        return Ok(finished.stdout);
    }
    let stderr = String::from_utf8_lossy(&finished.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no message");
    Err(error(format!(
        "exit {}: {}",
        finished
            .code
            .map_or("signal".to_owned(), |code| code.to_string()),
        last.trim()
    )))
}

/// Returns `git args…` stdout as trimmed text.
pub fn git_text(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    run_git(dir, args).map(|out| String::from_utf8_lossy(&out).trim().to_owned())
}

/// Runs `git args…` in `dir`.
pub fn git(dir: &Path, args: &[&str]) -> Result<Finished, ProcessError> {
    run(&Run {
        program: "git",
        args,
        dir,
        env: &NON_INTERACTIVE,
        stdin: None,
        timeout: GIT_TIMEOUT,
        tail: None,
    })
}

/// Returns git's stdout when it succeeds, trimmed; `None` when git fails or is missing.
fn query(dir: &Path, args: &[&str]) -> Option<String> {
    let finished = git(dir, args).ok()?;
    (finished.code == Some(0)).then(|| String::from_utf8_lossy(&finished.stdout).trim().to_owned())
}

/// Returns the root of the work tree `dir` is in: the nearest ancestor holding a `.git`
/// entry (a directory, or the file a linked worktree has), or `None` outside git.
///
/// Found by walking up rather than by asking git, so that read-only commands start no process.
pub fn repo_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|ancestor| ancestor.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Returns the commit `HEAD` names, or `None` in a repository without commits.
pub fn head_commit(root: &Path) -> Option<String> {
    query(root, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
}

/// Returns the tracked files of the repository at `root`, sorted, with `/` separators.
pub fn tracked_files(root: &Path) -> Option<Vec<String>> {
    let finished = git(root, &["ls-files", "-z"]).ok()?;
    if finished.code != Some(0) {
        return None;
    }
    let mut files: Vec<String> = finished
        .stdout
        .split(|byte| *byte == 0)
        .filter(|path| !path.is_empty())
        .map(|path| String::from_utf8_lossy(path).into_owned())
        .collect();
    files.sort();
    Some(files)
}
