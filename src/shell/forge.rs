//! The forge's command-line client (`gh`): whether it can be used here, and opening a pull
//! request with it. Reports what happened; must not decide whether a goal may be proposed.

use std::path::Path;

use crate::shell::process::{run, ProcessError, Spec};

/// Whether `gh` can open a pull request here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GhStatus {
    Ready,
    /// `gh` is not on PATH.
    Missing,
    /// `gh` is there but not signed in: its own words.
    NotAuthenticated(String),
}

/// `gh` failed to open the pull request.
#[derive(Debug, thiserror::Error)]
#[error("`gh pr create` failed: {0}")]
pub struct ForgeError(pub String);

/// Returns whether `gh` is installed and signed in, asked from `dir`.
pub fn gh_status(dir: &Path) -> GhStatus {
    match run(Spec::new("gh", &["auth", "status"], dir)) {
        Err(ProcessError::Spawn { .. }) => GhStatus::Missing,
        Err(error) => GhStatus::NotAuthenticated(error.to_string()),
        Ok(exit) if exit.success() => GhStatus::Ready,
        Ok(exit) => {
            let said = exit.stderr.tail.last_line();
            GhStatus::NotAuthenticated(if said.is_empty() {
                exit.stdout.tail.last_line()
            } else {
                said
            })
        }
    }
}

/// Returns the arguments of `gh` that open the pull request.
pub fn gh_create_args(
    base: &str,
    head: &str,
    title: &str,
    body_file: &Path,
    draft: bool,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "pr", "create", "--base", base, "--head", head, "--title", title,
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect();
    args.push("--body-file".to_owned());
    args.push(body_file.display().to_string());
    if draft {
        args.push("--draft".to_owned());
    }
    args
}

/// Runs `gh` with `args` in `dir` and returns the pull request's address (its last line).
pub fn gh_create(dir: &Path, args: &[String]) -> Result<String, ForgeError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exit = run(Spec::new("gh", &args, dir)).map_err(|error| ForgeError(error.to_string()))?;
    let url = exit.stdout.tail.last_line();
    if exit.success() && !url.is_empty() {
        Ok(url.trim().to_owned())
    } else {
        let said = exit.stderr.tail.last_line();
        Err(ForgeError(if said.is_empty() {
            format!("it exited {:?} and printed no address", exit.code)
        } else {
            said
        }))
    }
}
