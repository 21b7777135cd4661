//! `omk.toml`: the repository's configuration, read from its root (or `--config`).
//!
//! It holds the agent settings and the gates. Every key is known: an unknown or
//! malformed key is an error naming the file, the line and the key, never silently ignored.
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

use serde::Deserialize;

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
}

/// `[gates.<name>]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    pub command: String,
    #[serde(default = "required_by_default")]
    pub required: bool,
    /// A duration such as `20m`.
    pub timeout: Option<String>,
    /// The working directory, relative to the tree's root.
    pub dir: Option<String>,
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
    /// A duration such as `30m`, checked when it is used.
    pub timeout: Option<String>,
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

/// Returns the configuration at `explicit`, or `omk.toml` in `repo_root`, or the defaults when
/// there is no such file (an explicit path must exist).
pub fn load_config(repo_root: &Path, explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let path: PathBuf = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let path = repo_root.join(CONFIG_FILE);
            if !path.exists() {
                return Ok(Config::default());
            }
            path
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_config(&text, &path.display().to_string())
}

/// Returns the configuration in `text`, read from `path` (for messages).
pub fn parse_config(text: &str, path: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|error| {
        let line = error.span().map_or(1, |span| {
            text[..span.start.min(text.len())].matches('\n').count() + 1
        });
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
