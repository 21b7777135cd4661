//! What every command shares: the repository, the state directory, the clock, the settings,
//! the agent flags, and how store errors and refusals are printed.
//!
//! Must not run a command itself: the command files do, and they import this, never each other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::cli::{Failure, EXIT_ERROR, EXIT_FINDINGS};
use crate::ops::settings::{load_settings, parse_timeout, Overrides, Settings, SettingsError};
use crate::shell::clock::Clock;
use crate::shell::git::repo_root;
use crate::shell::keystore::{load_signing_key, KeystoreError, SIGNING_KEY_VAR};
use crate::state::Refusal;
use crate::store::{GoalDir, Loaded, StateDir, StoreError};
use crate::trust::{PublicKey, SigningKey};

/// The environment variable that moves the state directory away from `<repo>/.omk`.
pub const OMK_HOME_VAR: &str = "OMK_HOME";

/// What the goal commands share: where goals live, the clock, and the repository.
pub(crate) struct Context {
    pub(crate) repo_root: PathBuf,
    pub(crate) state_dir: StateDir,
    pub(crate) clock: Clock,
    config_path: Option<PathBuf>,
}

impl Context {
    pub(crate) fn new(
        repo: Option<PathBuf>,
        config_path: Option<PathBuf>,
    ) -> Result<Context, Failure> {
        let (repo_root, state_root) = locate(repo)?;
        Ok(Context {
            repo_root,
            state_dir: StateDir::new(state_root).signing_with(signing_key()?),
            clock: Clock::from_env()?,
            config_path,
        })
    }

    /// Returns the settings: `omk.toml` (or `--config`) with the command's flags on top.
    pub(crate) fn settings(&self, overrides: &Overrides) -> Result<Settings, Failure> {
        load_settings(&self.repo_root, self.config_path.as_deref(), overrides).map_err(|error| {
            let hint = match &error {
                SettingsError::Zero(_) => "pass 1 or more",
                SettingsError::Config(_) => "fix the file (docs/agents.md and docs/proof.md list its keys; durations look like 90s, 20m or 1h30m, up to 7d), or pass --config another file",
            };
            Failure::hinted(error, hint)
        })
    }

    pub(crate) fn resolve(&self, selector: &str) -> Result<GoalDir, Failure> {
        self.state_dir.resolve(selector).map_err(store_failure)
    }
}

/// Returns the repository's root (`repo`, or the one the current directory is in; the
/// directory itself outside git) and the state directory (`$OMK_HOME`, else `.omk` in it).
pub(crate) fn locate(repo: Option<PathBuf>) -> Result<(PathBuf, PathBuf), Failure> {
    let start = match repo {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    if !start.is_dir() {
        return Err(Failure::hinted(
            anyhow::anyhow!("{} is not a directory", start.display()),
            "pass --repo the repository the goal works on",
        ));
    }
    let start = std::path::absolute(&start)?;
    let repo_root = repo_root(&start).unwrap_or(start);
    let state_root = match std::env::var_os(OMK_HOME_VAR) {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => repo_root.join(".omk"),
    };
    Ok((repo_root, state_root))
}

/// Returns the user's signing key, if there is one; an unusable key stops every command, since
/// appending unsigned heads to a goal that was signed would go unnoticed.
pub(crate) fn signing_key() -> Result<Option<SigningKey>, Failure> {
    load_signing_key().map_err(|error| {
        let hint = match &error {
            KeystoreError::Exposed { path, .. } => format!("run `chmod 600 {path}`"),
            KeystoreError::Missing { .. } => format!(
                "make the key there with `omk key generate`, or unset {SIGNING_KEY_VAR}"
            ),
            _ => format!(
                "fix or remove it, point {SIGNING_KEY_VAR} at another key, or make a new one with `omk key generate --force`"
            ),
        };
        Failure::hinted(error, hint)
    })
}

/// Returns the public key in the PEM file at `path`.
pub(crate) fn read_public_key(path: &std::path::Path) -> Result<PublicKey, Failure> {
    let hint = "pass the public key `omk key show` printed (-----BEGIN PUBLIC KEY-----)";
    let text = std::fs::read_to_string(path).map_err(|error| {
        Failure::hinted(
            anyhow::anyhow!("cannot read {}: {error}", path.display()),
            hint,
        )
    })?;
    PublicKey::from_pem(&text).map_err(|error| {
        Failure::hinted(
            anyhow::anyhow!("{} is not an Ed25519 public key: {error}", path.display()),
            hint,
        )
    })
}

#[derive(Args, Debug, Clone)]
pub struct AgentArgs {
    /// The agent backend: kimi, claude, codex, gemini, aider, opencode, or command (default: the goal's)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// The command line of the `command` agent (prompt on stdin and in $OMK_PROMPT_FILE)
    #[arg(long, value_name = "COMMAND")]
    pub agent_cmd: Option<String>,
    /// How many agents run at once (default 2)
    #[arg(long, value_name = "N")]
    pub max_agents: Option<usize>,
    /// How long one agent run may take, e.g. `30m`
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub agent_timeout: Option<Duration>,
}

impl AgentArgs {
    /// Returns what these flags override in `omk.toml`.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            agent: self.agent.clone(),
            agent_cmd: self.agent_cmd.clone(),
            max_agents: self.max_agents,
            agent_timeout: self.agent_timeout,
            max_parallel: None,
            planner: None,
        }
    }
}

/// Returns the goal for a view (it may start from an intact snapshot), or the failure to print.
pub(super) fn load(goal: &GoalDir) -> Result<Loaded, Failure> {
    goal.load_view().map_err(store_failure)
}

/// Returns the failure for a refused command: exit 1, nothing appended.
pub(super) fn refused(refusal: Refusal) -> Failure {
    Failure::with_code(anyhow::anyhow!("refused: {refusal}"), None, EXIT_FINDINGS)
}

/// Returns the failure for a store error, with the hint that fits it.
pub(super) fn store_failure(error: StoreError) -> Failure {
    let hint = match &error {
        StoreError::NoGoals { .. } => Some("start one with `omk goal run \"<prompt>\"`".to_owned()),
        StoreError::UnknownGoal { .. } => Some("list the goals with `omk goal list --all`, or pass `latest`".to_owned()),
        StoreError::AmbiguousGoal { .. } => Some("type more of the id (`omk goal list` shows each goal's shortest name)".to_owned()),
        StoreError::TornTail { path, .. } => Some(format!(
            "an append was interrupted; run `omk log repair {}` to set the torn bytes aside",
            parent_of(path)
        )),
        StoreError::Contended { .. } => Some("run the command again".to_owned()),
        StoreError::Decode { path, source, started_by } if source.is_newer() => Some(newer_omk_hint(path, started_by.as_deref())),
        error if error.io_cause().is_some_and(|cause| cause.kind() == std::io::ErrorKind::StorageFull) => Some(
            "the disk is full: free some space, then run the command again; `omk log verify` shows what the log kept (an interrupted append is set aside by `omk log repair`)".to_owned(),
        ),
        error if error.io_cause().is_some_and(|cause| matches!(cause.kind(), std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied)) => Some(
            "omk cannot write the goal's directory (a read-only file system, or no permission): nothing was appended; run it where it can write, or set OMK_HOME to a writable directory".to_owned(),
        ),
        error if error.is_log_damage() => Some(format!(
            "the goal's log is damaged; run `omk log verify {}` for the full report, nothing was appended",
            damaged_dir(error)
        )),
        _ => None,
    };
    Failure::with_code(error, hint, EXIT_ERROR)
}

/// Returns the hint for a goal this build is too old to fold.
pub(super) fn newer_omk_hint(log: &str, started_by: Option<&str>) -> String {
    let started = match started_by {
        Some(version) if version != env!("CARGO_PKG_VERSION") => {
            format!(" (the goal was started by omk {version})")
        }
        _ => String::new(),
    };
    format!(
        "upgrade omk to read it{started}; `omk log verify {}` checks its chain without folding it",
        parent_of(log)
    )
}

fn damaged_dir(error: &StoreError) -> String {
    let message = error.to_string();
    message
        .split_whitespace()
        .find(|word| word.ends_with("events.jsonl") || word.ends_with("events.jsonl:"))
        .map(|word| parent_of(word.trim_end_matches(':')))
        .unwrap_or_else(|| "<goal dir>".to_owned())
}

fn parent_of(path: &str) -> String {
    Path::new(path)
        .parent()
        .map_or_else(|| path.to_owned(), |dir| dir.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::writer::{AppendError, OpenError};

    fn hint(error: StoreError) -> String {
        store_failure(error).hint.unwrap_or_default()
    }

    /// Issue 15: a file system that refuses writes is not a damaged log, and a full disk says so.
    #[test]
    fn write_failures_get_the_hint_for_their_cause() {
        let open = |kind| {
            StoreError::Open(OpenError::Io {
                path: "/goals/g/events.jsonl".to_owned(),
                source: std::io::Error::from(kind),
            })
        };
        let read_only = hint(open(std::io::ErrorKind::ReadOnlyFilesystem));
        assert!(
            read_only.contains("cannot write the goal's directory"),
            "{read_only}"
        );
        assert!(!read_only.contains("damaged"), "{read_only}");
        let full = hint(StoreError::Append(AppendError::Write {
            path: "/goals/g/events.jsonl".to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        }));
        assert!(full.starts_with("the disk is full"), "{full}");
        let corrupt = hint(StoreError::Open(OpenError::Truncated {
            path: "/goals/g/events.jsonl".to_owned(),
            expected: 10,
            actual: 5,
        }));
        assert!(corrupt.contains("the goal's log is damaged"), "{corrupt}");
    }
}
