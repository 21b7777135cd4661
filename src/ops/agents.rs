//! `omk agents`: which agent presets can run here, at which version, and the exact command
//! omk would start for each.
//!
//! Each preset's program is looked up on `PATH` and asked `--version` under the supervisor (in
//! a scratch directory, with a short deadline). Must not run an agent: `--version` only, and
//! never the old kimi-cli bare (run without arguments, its last release installs Kimi Code).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::shell::agent::{backend, RunIds, PRESETS};
use crate::shell::process::{run, Capture, Ending, Spec};

/// How long `<program> --version` may take.
const VERSION_DEADLINE: Duration = Duration::from_secs(20);

/// One preset as this machine has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PresetStatus {
    /// The preset's name: `claude`, `kimi`, ….
    pub name: String,
    /// The program it starts.
    pub program: String,
    /// Where the program is on `PATH`, if it is.
    pub path: Option<String>,
    /// What `<program> --version` printed first, if it ran.
    pub version: Option<String>,
    /// Which program answers to the name, where two do (`kimi`: Kimi Code or the retired kimi-cli).
    pub variant: Option<String>,
    /// The command omk runs, with the prompt and worktree as placeholders.
    pub command: Vec<String>,
    /// The environment the preset sets for it, as `NAME=value` (beside the `OMK_*` ids).
    pub env: Vec<String>,
    /// Whether omk can run this preset as it stands.
    pub usable: bool,
}

/// Returns the status of every preset but `command`, in the order help lists them.
pub fn survey(path_var: Option<&std::ffi::OsStr>) -> Vec<PresetStatus> {
    let scratch = std::env::temp_dir();
    PRESETS
        .iter()
        .filter(|name| **name != "command")
        .filter_map(|name| backend(name, None).ok())
        .filter_map(|preset| {
            let invocation = preset.invocation(
                "{prompt}",
                RunIds {
                    goal_id: "{goal}",
                    task_id: "{task}",
                    worktree: Path::new("{worktree}"),
                    prompt_file: Path::new("{prompt_file}"),
                },
            );
            let invocation = invocation.ok()?;
            let program = invocation.program.clone();
            let path = find_on_path(&program, path_var);
            let version = path.as_ref().and_then(|path| version_of(path, &scratch));
            let variant = variant_of(&preset.name, version.as_deref());
            let usable = path.is_some() && variant.as_deref() != Some(RETIRED_KIMI);
            let mut command = vec![program.clone()];
            command.extend(invocation.recorded_argv.into_iter().skip(1));
            let env = preset
                .env
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            Some(PresetStatus {
                env,
                name: preset.name.clone(),
                program,
                path: path.map(|path| path.display().to_string()),
                version,
                variant,
                command,
                usable,
            })
        })
        .collect()
}

/// What `kimi` is when it is the retired Python kimi-cli.
const RETIRED_KIMI: &str =
    "kimi-cli (retired: install Kimi Code, npm install -g @moonshot-ai/kimi-code)";

/// Returns which program answers to a preset's name, where two do.
fn variant_of(name: &str, version: Option<&str>) -> Option<String> {
    let version = version?;
    (name == "kimi").then(|| {
        // kimi-cli prints `kimi, version 1.52.0`; Kimi Code prints the bare version.
        if version.starts_with("kimi, version") {
            RETIRED_KIMI.to_owned()
        } else {
            "Kimi Code".to_owned()
        }
    })
}

/// Returns the first executable file named `program` in the directories of `path_var`.
pub(crate) fn find_on_path(program: &str, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Returns the first line `<program> --version` prints, if it answers in time.
pub(crate) fn version_of(program: &Path, dir: &Path) -> Option<String> {
    let program = program.to_str()?;
    let mut spec = Spec::new(program, &["--version"], dir);
    spec.deadline = VERSION_DEADLINE;
    spec.stdout = Capture::memory(64 << 10);
    spec.stderr = Capture::memory(64 << 10);
    let exit = run(spec).ok()?;
    if exit.ending != Ending::Exited {
        return None;
    }
    [&exit.stdout.bytes, &exit.stderr.bytes]
        .iter()
        .flat_map(|bytes| {
            String::from_utf8_lossy(bytes)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|line| line.trim().to_owned())
        .find(|line| !line.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_is_found_on_path_and_asked_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("codex");
        std::fs::write(&fake, "#!/bin/sh\necho 'codex-cli 0.171.0'\n").unwrap();
        let retired = dir.path().join("kimi");
        std::fs::write(&retired, "#!/bin/sh\necho 'kimi, version 1.52.0'\n").unwrap();
        for file in [&fake, &retired] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let statuses = survey(Some(dir.path().as_os_str()));
        let codex = statuses
            .iter()
            .find(|status| status.name == "codex")
            .unwrap();
        assert_eq!(codex.version.as_deref(), Some("codex-cli 0.171.0"));
        assert!(codex.usable);
        assert_eq!(codex.command[..3], ["codex", "exec", "--json"]);
        let kimi = statuses
            .iter()
            .find(|status| status.name == "kimi")
            .unwrap();
        assert_eq!(kimi.variant.as_deref(), Some(RETIRED_KIMI));
        assert!(!kimi.usable, "the retired kimi-cli does nothing");
        let claude = statuses
            .iter()
            .find(|status| status.name == "claude")
            .unwrap();
        assert_eq!((claude.path.as_deref(), claude.usable), (None, false));
    }
}
