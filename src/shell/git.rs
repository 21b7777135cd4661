//! Git, run non-interactively: no editor, no pager, no credential prompts.
//!
//! Returns facts about a repository (its root, its head commit, its tracked files); callers
//! treat "not a git repository" as a fact, not an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::log::artifacts::ArtifactStore;
use crate::shell::process::{run, Capture, Captured, Ending, Exit, Spec};

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

/// The most output one git call may return in memory; more is an error, never a silent cut.
const GIT_OUTPUT_CAP: u64 = 256 << 20;

/// Settings for every git call: no background maintenance (it would outlive the call and be
/// killed as a leftover), and no quoting of unusual path names.
const GIT_SETTINGS: [&str; 6] = [
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
    "-c",
    "core.quotePath=false",
];

/// Runs `git args…` in `dir` and returns its stdout, or the error with git's own message.
pub fn run_git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let exit = git(dir, args, None, Capture::memory(GIT_OUTPUT_CAP))?;
    Ok(exit.stdout.bytes)
}

/// Runs `git args…` in `dir` with `input` on its stdin and returns its stdout.
pub fn run_git_with_input(dir: &Path, args: &[&str], input: Vec<u8>) -> Result<Vec<u8>, GitError> {
    let exit = git(dir, args, Some(input), Capture::memory(GIT_OUTPUT_CAP))?;
    Ok(exit.stdout.bytes)
}

/// Runs `git args…` in `dir` with its stdout streamed into an artifact of at most `cap` bytes.
pub fn git_to_artifact(
    dir: &Path,
    args: &[&str],
    store: ArtifactStore,
    name: &str,
    media_type: &str,
    cap: u64,
) -> Result<Captured, GitError> {
    let exit = git(
        dir,
        args,
        None,
        Capture::artifact(store, name, media_type, cap),
    )?;
    Ok(exit.stdout)
}

/// What merging two commits without a checkout gives (`git merge-tree --write-tree`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergedTree {
    /// The merge is clean: its tree.
    Clean { tree: String },
    /// The merge conflicts in these paths.
    Conflicted { files: Vec<String> },
}

/// Returns the tree of merging `theirs` into `ours` (over their merge base), touching no
/// checkout, or the paths that conflict.
pub fn merge_tree(dir: &Path, ours: &str, theirs: &str) -> Result<MergedTree, GitError> {
    let args = [
        "merge-tree",
        "--write-tree",
        "-z",
        "--name-only",
        "--no-messages",
        ours,
        theirs,
    ];
    let exit = git_exit(dir, &args, None, Capture::memory(GIT_OUTPUT_CAP))?;
    let mut records = nul_separated(&exit.stdout.bytes).into_iter();
    match (exit.code, records.next()) {
        (Some(0), Some(tree)) => Ok(MergedTree::Clean { tree }),
        (Some(1), Some(_)) => Ok(MergedTree::Conflicted {
            files: records.filter(|path| !path.is_empty()).collect(),
        }),
        _ => Err(failure(dir, &args, &exit)),
    }
}

/// Runs `git args…` in `dir` under the supervisor; a failure carries git's last line.
fn git(
    dir: &Path,
    args: &[&str],
    stdin: Option<Vec<u8>>,
    stdout: Capture,
) -> Result<Exit, GitError> {
    let exit = git_exit(dir, args, stdin, stdout)?;
    if exit.success() {
        return Ok(exit);
    }
    Err(failure(dir, args, &exit))
}

/// Returns the error for a git call that exited unsuccessfully, with git's last line.
fn failure(dir: &Path, args: &[&str], exit: &Exit) -> GitError {
    let last = exit.stderr.tail.last_line();
    GitError {
        command: args.join(" "),
        dir: dir.display().to_string(),
        detail: format!(
            "exit {}: {}",
            exit.code
                .map_or("signal".to_owned(), |code| code.to_string()),
            if last.is_empty() { "no message" } else { &last }
        ),
    }
}

/// Runs `git args…` in `dir` under the supervisor and returns how it exited, whatever the code;
/// an error only when it could not run, timed out or left its output unfinished or too long.
fn git_exit(
    dir: &Path,
    args: &[&str],
    stdin: Option<Vec<u8>>,
    stdout: Capture,
) -> Result<Exit, GitError> {
    let error = |detail: String| GitError {
        command: args.join(" "),
        dir: dir.display().to_string(),
        detail,
    };
    let mut argv: Vec<&str> = GIT_SETTINGS.to_vec();
    argv.extend_from_slice(args);
    let mut spec = Spec::new("git", &argv, dir);
    spec.env = NON_INTERACTIVE
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    spec.deadline = GIT_TIMEOUT;
    spec.stdin = stdin;
    spec.stdout = stdout;
    spec.stderr = Capture::nothing();
    let exit = run(spec).map_err(|failure| error(failure.to_string()))?;
    if exit.ending == Ending::TimedOut {
        return Err(error(format!(
            "it did not finish within {}s and was killed",
            GIT_TIMEOUT.as_secs()
        )));
    }
    if exit.stdout.unfinished {
        return Err(error(
            "its output did not end: a process it started still holds it".to_owned(),
        ));
    }
    if exit.stdout.truncated {
        return Err(error(format!(
            "its output is over {} MiB, more than omk reads from git",
            GIT_OUTPUT_CAP >> 20
        )));
    }
    Ok(exit)
}

/// Returns `git args…` stdout as trimmed text.
pub fn git_text(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    run_git(dir, args).map(|out| String::from_utf8_lossy(&out).trim().to_owned())
}

/// Returns the paths in `git args…` output separated by NUL (`-z`), as raw names.
pub fn git_paths(dir: &Path, args: &[&str]) -> Result<Vec<String>, GitError> {
    Ok(nul_separated(&run_git(dir, args)?))
}

/// Returns the NUL-separated names in `bytes`; a name that is not UTF-8 is kept lossily.
pub fn nul_separated(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|byte| *byte == 0)
        .filter(|path| !path.is_empty())
        .map(|path| String::from_utf8_lossy(path).into_owned())
        .collect()
}

/// Returns git's stdout when it succeeds, trimmed; `None` when git fails or is missing.
fn query(dir: &Path, args: &[&str]) -> Option<String> {
    git_text(dir, args).ok()
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
    let mut files = git_paths(root, &["ls-files", "-z"]).ok()?;
    files.sort();
    Some(files)
}

/// Returns a new repository (branch `main`) with `files` committed, for the shell's tests.
#[cfg(test)]
pub(crate) fn committed_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        run_git(root, args).unwrap();
    }
    dir
}
