//! `omk doctor`: whether this machine can run goals, and what is missing.
//!
//! Asks each program for its version under the supervisor (short deadlines, a scratch
//! directory) and reads, never writes: the signing key is checked, not made.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use crate::ops::agents::{find_on_path, survey, version_of};
use crate::project::checkup::{Check, Checkup, Health};
use crate::shell::git::{head_commit, repo_root};
use crate::shell::keystore::{key_path, load_signing_key};
use crate::shell::process::{run, Capture, Ending, Spec};
use crate::store::{StateDir, WORKTREES_DIR};

/// The oldest git omk works with: landing merges with `git merge-tree --write-tree` (2.38).
const OLDEST_GIT: (u32, u32) = (2, 38);

/// How long `gh auth status` may take (it asks GitHub).
const GH_DEADLINE: Duration = Duration::from_secs(15);

/// Returns every check, in the order they matter: git, the repository `dir` is in, the
/// agents, gh, the key, the state.
pub fn checkup(path_var: Option<&OsStr>, dir: &Path, state_dir: &Path) -> Checkup {
    let scratch = std::env::temp_dir();
    let git = git_check(path_var, &scratch);
    let repository = if git.health == Health::Ok {
        repository_check(dir)
    } else {
        Check::new("repository", Health::Missing, "not checked: that needs git")
    };
    let mut checks = vec![git, repository];
    checks.extend(agent_checks(path_var));
    checks.push(gh_check(path_var, &scratch));
    checks.push(key_check());
    checks.push(state_check(state_dir));
    Checkup { checks }
}

/// Goals start only in a git repository with a commit: the agents branch from it.
fn repository_check(dir: &Path) -> Check {
    let name = "repository";
    let Some(root) = repo_root(dir) else {
        return Check::new(
            name,
            Health::Problem,
            format!("{} is not in a git repository", dir.display()),
        )
        .hinted("run omk in the repository a goal is to change (or `git init` one and commit)");
    };
    match head_commit(&root) {
        Some(commit) => Check::new(
            name,
            Health::Ok,
            format!("{} at {}", root.display(), &commit[..commit.len().min(12)]),
        ),
        None => Check::new(
            name,
            Health::Problem,
            format!("{} has no commit yet", root.display()),
        )
        .hinted("commit something first: agents branch from the head commit"),
    }
}

fn git_check(path_var: Option<&OsStr>, scratch: &Path) -> Check {
    let Some(git) = find_on_path("git", path_var) else {
        return Check::new("git", Health::Problem, "not installed (no `git` on PATH)")
            .hinted("install git 2.38 or newer (apt install git)");
    };
    let Some(version) = version_of(&git, scratch) else {
        return Check::new(
            "git",
            Health::Problem,
            format!("{} does not answer --version", git.display()),
        );
    };
    match parse_git_version(&version) {
        Some(found) if found >= OLDEST_GIT => Check::new("git", Health::Ok, version),
        _ => Check::new("git", Health::Problem, version).hinted(format!(
            "omk needs git {}.{} or newer (landing merges with `git merge-tree --write-tree`)",
            OLDEST_GIT.0, OLDEST_GIT.1
        )),
    }
}

/// Returns the major and minor version in `git version 2.43.0` (or `… 2.39.3 (Apple Git-146)`).
fn parse_git_version(text: &str) -> Option<(u32, u32)> {
    let number = text
        .strip_prefix("git version ")?
        .split_whitespace()
        .next()?;
    let mut parts = number.split('.').map(|part| part.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

fn agent_checks(path_var: Option<&OsStr>) -> Vec<Check> {
    let presets = survey(path_var);
    let any_usable = presets.iter().any(|preset| preset.usable);
    let mut checks: Vec<Check> = presets
        .into_iter()
        .map(|preset| {
            let name = format!("agent {}", preset.name);
            match (&preset.path, preset.usable) {
                (None, _) => Check::new(
                    name,
                    Health::Missing,
                    format!("not installed (no `{}` on PATH)", preset.program),
                ),
                (Some(path), usable) => {
                    let found = match (&preset.version, &preset.variant) {
                        (Some(version), Some(variant)) => {
                            format!("{version} ({variant}) at {path}")
                        }
                        (Some(version), None) => format!("{version} at {path}"),
                        (None, _) => format!("at {path}, but `--version` did not answer"),
                    };
                    let health = if usable && preset.version.is_some() {
                        Health::Ok
                    } else {
                        Health::Problem
                    };
                    let check = Check::new(name, health, found);
                    match preset.variant {
                        Some(variant) if !usable => check.hinted(variant),
                        _ => check,
                    }
                }
            }
        })
        .collect();
    if !any_usable {
        checks.push(
            Check::new("agents", Health::Missing, "no agent CLI is installed").hinted(
                "install one (docs/agents.md says how), or run any command with --agent-cmd",
            ),
        );
    }
    checks
}

fn gh_check(path_var: Option<&OsStr>, scratch: &Path) -> Check {
    let Some(gh) = find_on_path("gh", path_var) else {
        return Check::new(
            "gh",
            Health::Missing,
            "not installed (only `omk goal open-pr` needs it)",
        );
    };
    let version = version_of(&gh, scratch).unwrap_or_else(|| "version unknown".to_owned());
    let Some(program) = gh.to_str() else {
        return Check::new("gh", Health::Missing, version);
    };
    let mut spec = Spec::new(program, &["auth", "status"], scratch);
    spec.deadline = GH_DEADLINE;
    spec.stdout = Capture::memory(64 << 10);
    spec.stderr = Capture::memory(64 << 10);
    match run(spec) {
        Ok(exit) if exit.ending == Ending::Exited && exit.success() => {
            Check::new("gh", Health::Ok, format!("{version}, authenticated"))
        }
        _ => Check::new(
            "gh",
            Health::Missing,
            format!("{version}, not authenticated"),
        )
        .hinted("run `gh auth login` before `omk goal open-pr`"),
    }
}

fn key_check() -> Check {
    let place = key_path().map(|path| path.display().to_string());
    match load_signing_key() {
        Ok(Some(key)) => Check::new(
            "signing key",
            Health::Ok,
            format!(
                "key {} at {}",
                &key.public().key_id()[..16],
                place.unwrap_or_default()
            ),
        ),
        Ok(None) => Check::new(
            "signing key",
            Health::Missing,
            "none (checkpoints and proofs are not signed)",
        )
        .hinted("`omk key generate` makes one"),
        Err(error) => Check::new("signing key", Health::Problem, error.to_string()).hinted(
            "fix the key's file (chmod 600), or make a new one with `omk key generate --force`",
        ),
    }
}

fn state_check(state_dir: &Path) -> Check {
    let name = "state directory";
    if !state_dir.exists() {
        return Check::new(
            name,
            Health::Ok,
            format!(
                "{} (not made yet: the first goal makes it)",
                state_dir.display()
            ),
        );
    }
    let state = StateDir::new(state_dir);
    let goals = state.goal_ids().map_or(0, |ids| ids.len());
    // Worktrees hold checkouts and their build output: walking them could take minutes, and
    // `omk goal gc` is what frees them. Only the goals' logs and artifacts are sized.
    let (bytes, unreadable) = tree_size(&state.goals_dir());
    let worktrees =
        std::fs::read_dir(state_dir.join(WORKTREES_DIR)).map_or(0, |entries| entries.count());
    let found = format!(
        "{}: {goals} goal{} in {}, worktrees of {worktrees} goal{} (`omk goal gc` removes ended goals' ones)",
        state_dir.display(),
        if goals == 1 { "" } else { "s" },
        human_bytes(bytes),
        if worktrees == 1 { "" } else { "s" },
    );
    if unreadable > 0 {
        Check::new(
            name,
            Health::Problem,
            format!("{found}; {unreadable} entries could not be read"),
        )
        .hinted("check the directory's permissions")
    } else {
        Check::new(name, Health::Ok, found)
    }
}

/// Returns the bytes of every file under `dir` (symbolic links not followed), and how many
/// entries could not be read.
fn tree_size(dir: &Path) -> (u64, u64) {
    let mut pending = vec![dir.to_path_buf()];
    let (mut bytes, mut unreadable) = (0, 0);
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            unreadable += 1;
            continue;
        };
        for entry in entries {
            match entry.and_then(|entry| Ok((entry.path(), entry.metadata()?))) {
                Ok((path, meta)) if meta.is_dir() => pending.push(path),
                Ok((_, meta)) => bytes += meta.len(),
                Err(_) => unreadable += 1,
            }
        }
    }
    (bytes, unreadable)
}

/// Returns `bytes` in the unit that reads best: `812 B`, `4.2 MB`, `1.3 GB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_versions_are_read_from_what_git_prints() {
        assert_eq!(parse_git_version("git version 2.43.0"), Some((2, 43)));
        assert_eq!(
            parse_git_version("git version 2.39.3 (Apple Git-146)"),
            Some((2, 39))
        );
        assert_eq!(
            parse_git_version("git version 2.37.1.windows.1"),
            Some((2, 37))
        );
        assert_eq!(parse_git_version("hub version 2.14"), None);
        assert!(parse_git_version("git version 2.37.1").unwrap() < OLDEST_GIT);
    }

    #[test]
    fn sizes_read_in_the_unit_that_fits() {
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(4_200_000), "4.2 MB");
        assert_eq!(human_bytes(1_300_000_000), "1.3 GB");
    }
}
