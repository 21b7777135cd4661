//! Settings: `omk.toml` (read from the repository root, or `--config`) and the command-line
//! flags, turned once into one [`Settings`] value that every operation takes.
//!
//! It holds the agent settings, the gates and how verification runs. Every key is known: an
//! unknown or malformed key, or a duration out of its range, is an error naming the file, the
//! line and the key, never silently ignored. Durations are parsed by one parser here, so the
//! demo and the CLI read `omk.toml` the same way.
//!
//! ```toml
//! [agent]
//! name = "claude"        # a preset, or "command"
//! cmd = "./my-agent.sh"  # the command line of the `command` agent
//! max_agents = 2
//! timeout = "30m"
//!
//! [gates.test]
//! command = "cargo test"
//! required = true        # the default
//! timeout = "40m"
//! dir = "."
//! red_first = false      # must fail on the base commit and pass on the goal's tree
//! when_changed = ["src/**", "Cargo.toml"]  # only goals that change these need it
//!
//! [verify]
//! max_parallel = 2
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::event::GateName;
use crate::plan::documents::format_duration;
use crate::plan::gates::{default_gates, GateSpec, RepoFacts, DEFAULT_GATE_TIMEOUT_SECS};
use crate::plan::write_set::ScopePolicy;

/// The configuration file's name at the repository root.
pub const CONFIG_FILE: &str = "omk.toml";

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub agent: AgentConfig,
    /// Returns the gates by name; none means the default profile for the repository.
    #[serde(default)]
    pub gates: BTreeMap<String, GateConfig>,
    #[serde(default)]
    pub verify: VerifyConfig,
    #[serde(default)]
    pub scope: ScopeConfig,
    #[serde(default)]
    pub plan: PlanConfig,
}

/// `[plan]`: how goals are planned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// `builtin` (the default) or `agent` (the goal's coding agent writes the plan).
    pub planner: Option<PlannerChoice>,
}

/// Who plans a goal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PlannerChoice {
    /// omk's built-in deterministic decomposition.
    #[default]
    Builtin,
    /// The goal's coding agent, reading the repository in a scratch worktree.
    Agent,
}

/// `[scope]`: how changes are held to the planned write sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// Whether any change outside a slice's write set fails it (default: such a change is
    /// allowed as "widened" unless another slice claims it or it is protected).
    pub strict: Option<bool>,
    /// Paths no slice may change unless its write set names them; replaces the default
    /// (`.github/workflows/**`, `.gitlab-ci.yml`, `omk.toml`).
    pub protected: Option<Vec<String>>,
}

/// `[gates.<name>]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    pub command: toml::Spanned<String>,
    #[serde(default = "required_by_default")]
    pub required: bool,
    /// A duration such as `20m`.
    pub timeout: Option<toml::Spanned<String>>,
    /// The working directory, relative to the tree's root (and inside it).
    pub dir: Option<toml::Spanned<String>>,
    /// Must fail on the base commit and pass on the goal's tree.
    #[serde(default)]
    pub red_first: bool,
    /// Which goals need the gate, by what they change: globs (`src/**`); empty means every goal.
    #[serde(default)]
    pub when_changed: Vec<String>,
}

fn required_by_default() -> bool {
    true
}

/// `[verify]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// How many gates run at once.
    pub max_parallel: Option<usize>,
}

/// `[agent]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub name: Option<String>,
    pub cmd: Option<String>,
    pub max_agents: Option<usize>,
    /// A duration such as `30m`.
    pub timeout: Option<toml::Spanned<String>>,
}

/// The configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
}

/// The longest a gate, an agent run or the planner may be given: a week.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 86_400);
/// The longest time budget a goal may be given: a year.
pub const MAX_BUDGET_TIME: Duration = Duration::from_secs(366 * 86_400);
/// How many agents run at once unless told otherwise.
pub const DEFAULT_MAX_AGENTS: usize = 2;
/// How long one agent run may take unless told otherwise.
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How many gates run at once unless told otherwise.
pub const DEFAULT_MAX_PARALLEL: usize = 2;

/// What the flags of one command say, overriding `omk.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub agent: Option<String>,
    pub agent_cmd: Option<String>,
    pub max_agents: Option<usize>,
    pub agent_timeout: Option<Duration>,
    pub max_parallel: Option<usize>,
    pub planner: Option<PlannerChoice>,
}

/// Everything an operation needs to know about how to run, from the flags and `omk.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub agent: AgentSettings,
    /// The gates verification runs: `omk.toml`'s, or the default profile of the repository.
    pub gates: Vec<GateSpec>,
    /// How many gates run at once.
    pub max_parallel: usize,
    /// How changes are held to the planned write sets.
    pub scope: ScopePolicy,
    /// Who plans new goals.
    pub planner: PlannerChoice,
}

/// How agents run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSettings {
    /// The backend named by a flag or `omk.toml` (else the goal's own).
    pub name: Option<String>,
    /// The command line of the `command` backend.
    pub cmd: Option<String>,
    pub max_agents: usize,
    /// How long one agent run may take.
    pub timeout: Duration,
}

/// The settings could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// Checks that a gate's `dir` stays inside the tree it runs on: relative, without `..`.
fn check_gate_dir(dir: &str) -> Result<(), String> {
    let path = Path::new(dir);
    if path.is_absolute() {
        return Err(format!(
            "`{dir}` is absolute: a gate runs in the tree it checks, so give a path relative to its root"
        ));
    }
    if path
        .components()
        .any(|part| part == std::path::Component::ParentDir)
    {
        return Err(format!(
            "`{dir}` leaves the tree with `..`: a gate must run inside the tree it checks"
        ));
    }
    Ok(())
}

/// Returns the settings for the repository at `repo_root`: `omk.toml` (or `explicit`) with
/// `overrides` on top.
pub fn load_settings(
    repo_root: &Path,
    explicit: Option<&Path>,
    overrides: &Overrides,
) -> Result<Settings, SettingsError> {
    let (config, path, text) = read_config(repo_root, explicit)?;
    let invalid =
        |spanned: &toml::Spanned<String>, key: String, message: String| ConfigError::Invalid {
            path: path.clone(),
            line: line_of(&text, spanned.span().start),
            message: format!("{key}: {message}"),
        };
    let agent_timeout = match (&overrides.agent_timeout, &config.agent.timeout) {
        (Some(timeout), _) => *timeout,
        (None, Some(text)) => parse_timeout(text.get_ref())
            .map_err(|message| invalid(text, "[agent] timeout".to_owned(), message))?,
        (None, None) => DEFAULT_AGENT_TIMEOUT,
    };
    let max_agents = overrides
        .max_agents
        .or(config.agent.max_agents)
        .unwrap_or(DEFAULT_MAX_AGENTS);
    if max_agents == 0 {
        return Err(SettingsError::Zero(
            "max agents (--max-agents, [agent] max_agents)",
        ));
    }
    let max_parallel = overrides
        .max_parallel
        .or(config.verify.max_parallel)
        .unwrap_or(DEFAULT_MAX_PARALLEL);
    if max_parallel == 0 {
        return Err(SettingsError::Zero(
            "parallel gates (--max-parallel, [verify] max_parallel)",
        ));
    }
    let mut gates = Vec::new();
    for (name, gate) in &config.gates {
        let timeout = match &gate.timeout {
            Some(text) => parse_timeout(text.get_ref())
                .map_err(|message| invalid(text, format!("[gates.{name}] timeout"), message))?,
            None => Duration::from_secs(DEFAULT_GATE_TIMEOUT_SECS),
        };
        if gate.command.get_ref().trim().is_empty() {
            return Err(invalid(
                &gate.command,
                format!("[gates.{name}] command"),
                "is empty: a gate runs a command, and an empty one would pass without checking anything".to_owned(),
            )
            .into());
        }
        if let Some(dir) = &gate.dir {
            if let Err(message) = check_gate_dir(dir.get_ref()) {
                return Err(invalid(dir, format!("[gates.{name}] dir"), message).into());
            }
        }
        gates.push(GateSpec {
            name: GateName::new(name.clone()),
            command: gate.command.get_ref().clone(),
            required: gate.required,
            timeout_secs: timeout.as_secs(),
            dir: gate
                .dir
                .as_ref()
                .map_or_else(|| ".".to_owned(), |dir| dir.get_ref().clone()),
            red_first: gate.red_first,
            when_changed: gate.when_changed.clone(),
            why: "omk.toml".to_owned(),
        });
    }
    if gates.is_empty() {
        gates = default_gates(&repo_facts(repo_root));
    }
    Ok(Settings {
        agent: AgentSettings {
            name: overrides.agent.clone().or(config.agent.name),
            cmd: overrides.agent_cmd.clone().or(config.agent.cmd),
            max_agents,
            timeout: agent_timeout,
        },
        gates,
        max_parallel,
        planner: overrides
            .planner
            .or(config.plan.planner)
            .unwrap_or_default(),
        scope: ScopePolicy {
            strict: config.scope.strict.unwrap_or(false),
            protected: config
                .scope
                .protected
                .clone()
                .unwrap_or_else(|| ScopePolicy::default().protected),
        },
    })
}

/// Returns what the default gate profiles look at: the root's file names and npm scripts.
fn repo_facts(root: &Path) -> RepoFacts {
    let mut root_files: Vec<String> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    root_files.sort();
    let npm_scripts = std::fs::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|package| {
            package
                .get("scripts")
                .and_then(|scripts| scripts.as_object())
                .map(|scripts| scripts.keys().cloned().collect())
        })
        .unwrap_or_default();
    RepoFacts {
        root_files,
        npm_scripts,
    }
}

/// Parses a duration: `2h`, `90m`, `1h30m`, `45s`, `1d`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration like 2h, 90m, 1h30m or 45s");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(invalid)?;
        number.clear();
    }
    if !number.is_empty() || text.is_empty() {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

/// Parses a timeout (a gate's, an agent run's, the planner's): a duration from 1s to a week.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    within(text, parse_duration(text)?, MAX_TIMEOUT)
}

/// Parses a time budget: a duration from 1s to a year.
pub fn parse_budget_time(text: &str) -> Result<Duration, String> {
    within(text, parse_duration(text)?, MAX_BUDGET_TIME)
}

fn within(text: &str, duration: Duration, max: Duration) -> Result<Duration, String> {
    if duration.is_zero() {
        return Err(format!("`{text}` is zero: give at least 1s"));
    }
    if duration > max {
        return Err(format!(
            "`{text}` is longer than the most omk allows, {}",
            format_duration(max.as_secs())
        ));
    }
    Ok(duration)
}

/// Parses US dollars (`5`, `2.50`, `$0.75`) into millionths of a dollar.
pub fn parse_usd(text: &str) -> Result<u64, String> {
    let invalid = || format!("`{text}` is not an amount of US dollars like 5 or 2.50");
    let digits = text.trim().trim_start_matches('$');
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 6 {
        return Err(invalid());
    }
    let all_digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return Err(invalid());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: u64 = format!("{fraction:0<6}").parse().map_err(|_| invalid())?;
    whole
        .checked_mul(1_000_000)
        .and_then(|micros| micros.checked_add(fraction))
        .ok_or_else(invalid)
}

/// Returns the configuration at `explicit`, or `omk.toml` in `repo_root`, or the defaults when
/// there is no such file (an explicit path must exist).
pub fn load_config(repo_root: &Path, explicit: Option<&Path>) -> Result<Config, ConfigError> {
    read_config(repo_root, explicit).map(|(config, _, _)| config)
}

/// Returns the configuration, the path it was read from, and its text.
fn read_config(
    repo_root: &Path,
    explicit: Option<&Path>,
) -> Result<(Config, String, String), ConfigError> {
    let path: PathBuf = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let path = repo_root.join(CONFIG_FILE);
            if !path.exists() {
                return Ok((Config::default(), CONFIG_FILE.to_owned(), String::new()));
            }
            path
        }
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
        path: shown.clone(),
        source,
    })?;
    let config = parse_config(&text, &shown)?;
    Ok((config, shown, text))
}

/// Returns the 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Returns the configuration in `text`, read from `path` (for messages).
pub fn parse_config(text: &str, path: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|error| {
        let line = error.span().map_or(1, |span| line_of(text, span.start));
        ConfigError::Invalid {
            path: path.to_owned(),
            line,
            message: error.message().trim().to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_documented_form_within_their_range() {
        let secs = |text| parse_duration(text).map(|duration| duration.as_secs());
        assert_eq!(secs("2h"), Ok(7200));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("45s"), Ok(45));
        assert_eq!(secs("90"), Ok(90));
        assert_eq!(secs("1d"), Ok(86_400));
        for bad in ["", "h", "2x", "1h30", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_timeout("7d"), Ok(MAX_TIMEOUT));
        let error = parse_timeout("18446744073709551615").unwrap_err();
        assert_eq!(
            error,
            "`18446744073709551615` is longer than the most omk allows, 168h"
        );
        assert!(parse_timeout("0").unwrap_err().contains("is zero"));
        assert_eq!(
            parse_timeout("0m").unwrap_err(),
            "`0m` is zero: give at least 1s"
        );
        assert!(parse_budget_time("30d").is_ok());
        assert!(parse_budget_time("400d").is_err());
    }

    #[test]
    fn dollars_parse_to_micros() {
        assert_eq!(parse_usd("5"), Ok(5_000_000));
        assert_eq!(parse_usd("2.50"), Ok(2_500_000));
        assert_eq!(parse_usd("$0.000001"), Ok(1));
        for bad in ["", "$", "1.2.3", "abc", "0.0000001", "-1"] {
            assert!(parse_usd(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_timeout_out_of_range_is_an_error_naming_the_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[gates.bg]\ncommand = \"true\"\ntimeout = \"18446744073709551615\"\n",
        )
        .unwrap();
        let error = load_settings(dir.path(), None, &Overrides::default()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.ends_with("omk.toml:3: [gates.bg] timeout: `18446744073709551615` is longer than the most omk allows, 168h"),
            "{text}"
        );
        let overrides = Overrides {
            max_agents: Some(0),
            ..Overrides::default()
        };
        std::fs::write(dir.path().join(CONFIG_FILE), "").unwrap();
        let error = load_settings(dir.path(), None, &overrides).unwrap_err();
        assert!(error.to_string().starts_with("max agents"), "{error}");
    }

    #[test]
    fn agent_settings_parse_and_unknown_keys_name_their_line() {
        let config =
            parse_config("[agent]\nname = \"claude\"\nmax_agents = 3\n", "omk.toml").unwrap();
        assert_eq!(config.agent.name.as_deref(), Some("claude"));
        assert_eq!(config.agent.max_agents, Some(3));
        assert_eq!(parse_config("", "omk.toml").unwrap(), Config::default());
        let error =
            parse_config("[agent]\nname = \"claude\"\nmodel = \"x\"\n", "omk.toml").unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("omk.toml:3: unknown field `model`"),
            "{text}"
        );
        let error = parse_config("[agent]\nmax_agents = \"two\"\n", "omk.toml").unwrap_err();
        assert!(
            error.to_string().starts_with("omk.toml:2: invalid type"),
            "{error}"
        );
        let error = parse_config("[agent\n", "omk.toml").unwrap_err();
        assert!(error.to_string().starts_with("omk.toml:1: "), "{error}");
    }
}
