//! Which gates verify a goal: the ones `omk.toml` names, or a default profile chosen from
//! what the repository is (Rust, Node, Python, Go, or a generic fallback), each with the reason
//! it applies. Pure: the shell says which files the repository root holds.

use serde::Serialize;

use crate::event::GateName;

/// The default gate timeout: generous, because a cold `cargo test` can take many minutes.
pub const DEFAULT_GATE_TIMEOUT_SECS: u64 = 30 * 60;

/// A gate as it will run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GateSpec {
    /// Returns the gate's name, unique in the goal.
    pub name: GateName,
    /// Returns the shell command (`sh -c`).
    pub command: String,
    /// Returns whether `ready` needs it to pass.
    pub required: bool,
    /// Returns how long it may run.
    pub timeout_secs: u64,
    /// Returns the working directory, relative to the tree's root.
    pub dir: String,
    /// Returns whether it must fail on the base commit and pass on the goal's tree.
    pub red_first: bool,
    /// Returns which goals need it, by the paths they change (globs); empty means every goal.
    pub when_changed: Vec<String>,
    /// Returns why it applies: `omk.toml`, or what in the repository chose the profile.
    pub why: String,
}

impl GateSpec {
    /// Returns whether a goal that changed `changed` needs this gate.
    pub fn needed_for(&self, changed: &[String]) -> bool {
        self.when_changed.is_empty()
            || changed
                .iter()
                .any(|path| crate::plan::write_set::allows(&self.when_changed, path))
    }
}

/// What the repository root shows, for choosing a profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepoFacts {
    /// Returns the names of the files at the root.
    pub root_files: Vec<String>,
    /// Returns the script names in `package.json`, if there is one.
    pub npm_scripts: Vec<String>,
}

/// Returns the default gates for a repository with `facts`.
pub fn default_gates(facts: &RepoFacts) -> Vec<GateSpec> {
    let has = |name: &str| facts.root_files.iter().any(|file| file == name);
    let gate = |name: &str, command: &str, why: &str| GateSpec {
        name: GateName::from(name),
        command: command.to_owned(),
        required: true,
        timeout_secs: DEFAULT_GATE_TIMEOUT_SECS,
        dir: ".".to_owned(),
        red_first: false,
        when_changed: Vec::new(),
        why: why.to_owned(),
    };
    let mut gates = Vec::new();
    if has("Cargo.toml") {
        let why = "Rust: Cargo.toml at the root";
        gates.push(gate("fmt", "cargo fmt --check", why));
        gates.push(gate(
            "clippy",
            "cargo clippy --all-targets -- -D warnings",
            why,
        ));
        gates.push(gate("test", "cargo test", why));
    }
    if has("package.json") {
        let why = "Node: package.json at the root";
        for script in ["lint", "test"] {
            if facts.npm_scripts.iter().any(|name| name == script) {
                gates.push(gate(
                    &format!("npm-{script}"),
                    &format!("npm run {script}"),
                    why,
                ));
            }
        }
    }
    if [
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "pytest.ini",
        "tox.ini",
    ]
    .iter()
    .any(|file| has(file))
    {
        gates.push(gate(
            "pytest",
            "pytest",
            "Python: a Python project file at the root",
        ));
    }
    if has("go.mod") {
        let why = "Go: go.mod at the root";
        gates.push(gate("go-vet", "go vet ./...", why));
        gates.push(gate("go-test", "go test ./...", why));
    }
    if gates.is_empty() {
        // Nothing recognised: at least the change must be clean of whitespace errors.
        gates.push(gate(
            "diff-check",
            "git diff --check HEAD~1 2>/dev/null || git diff --check",
            "no known project type at the root: a generic whitespace check",
        ));
    }
    gates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(gates: &[GateSpec]) -> Vec<&str> {
        gates.iter().map(|gate| gate.name.as_str()).collect()
    }

    #[test]
    fn each_kind_of_repository_gets_its_profile() {
        let facts = |files: &[&str], scripts: &[&str]| RepoFacts {
            root_files: files.iter().map(|f| (*f).to_owned()).collect(),
            npm_scripts: scripts.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(
            names(&default_gates(&facts(&["Cargo.toml"], &[]))),
            ["fmt", "clippy", "test"]
        );
        assert_eq!(
            names(&default_gates(&facts(
                &["package.json"],
                &["build", "test"]
            ))),
            ["npm-test"]
        );
        assert_eq!(
            names(&default_gates(&facts(&["pyproject.toml"], &[]))),
            ["pytest"]
        );
        assert_eq!(
            names(&default_gates(&facts(&["go.mod"], &[]))),
            ["go-vet", "go-test"]
        );
        assert_eq!(
            names(&default_gates(&facts(&["README.md"], &[]))),
            ["diff-check"]
        );
        assert_eq!(
            names(&default_gates(&facts(&["package.json"], &[]))),
            ["diff-check"],
            "a package without scripts has nothing to run"
        );
    }
}
