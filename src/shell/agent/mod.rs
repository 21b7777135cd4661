//! Agent backends: how each coding agent CLI is launched and how its output is read.
//!
//! A backend is a command template plus how the prompt is passed (argument, stdin, or the
//! prompt file), extra environment, and the dialect its output speaks (`usage`). The presets
//! are documented in docs/agents.md with the exact command each runs.

pub mod activity;
pub mod usage;

use std::path::Path;

pub use usage::{classify, AgentFailure, AgentReport, Dialect, FailureKind, UsageReader};

/// How the prompt reaches the agent. Every agent also gets the prompt file in `OMK_PROMPT_FILE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptVia {
    /// In the command line, where the template says `{prompt}`.
    Argument,
    /// On stdin, which is then closed.
    Stdin,
}

/// A way to run one coding agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// Returns the backend's name: a preset's, or `command`.
    pub name: String,
    /// Returns the command line; `{prompt}`, `{worktree}` and `{prompt_file}` are filled in.
    pub template: Vec<String>,
    /// Returns how the prompt is passed.
    pub prompt_via: PromptVia,
    /// Returns extra environment for the agent.
    pub env: Vec<(String, String)>,
    /// Returns how to read usage from its output.
    pub dialect: Dialect,
    /// Files the CLI writes for itself in the worktree (pathspec globs): never part of the
    /// change omk records.
    pub side_files: Vec<String>,
    /// How a prompt too long for one argument reaches the agent; `None` when the CLI takes
    /// its prompt only as an argument.
    pub long_prompt: Option<LongPrompt>,
}

/// How a CLI takes a prompt too long for one argument, as a change to its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongPrompt {
    /// On stdin: the `{prompt}` argument is dropped, or replaced by `placeholder` (`-`).
    Stdin { placeholder: Option<&'static str> },
    /// In the prompt file: `flag {prompt}` becomes `file_flag {prompt_file}`.
    File {
        flag: &'static str,
        file_flag: &'static str,
    },
}

impl LongPrompt {
    /// Returns `template` changed to pass the prompt this way, and how the prompt then goes.
    fn apply(self, template: &[String]) -> (Vec<String>, PromptVia) {
        let mut changed = Vec::new();
        let mut parts = template.iter().peekable();
        while let Some(part) = parts.next() {
            match self {
                LongPrompt::Stdin { placeholder } if part == "{prompt}" => {
                    changed.extend(placeholder.map(str::to_owned));
                }
                LongPrompt::File { flag, file_flag }
                    if part == flag && parts.peek().is_some_and(|next| *next == "{prompt}") =>
                {
                    parts.next();
                    changed.extend([file_flag.to_owned(), "{prompt_file}".to_owned()]);
                }
                _ => changed.push(part.clone()),
            }
        }
        let via = match self {
            LongPrompt::Stdin { .. } => PromptVia::Stdin,
            LongPrompt::File { .. } => PromptVia::Argument,
        };
        (changed, via)
    }
}

/// The longest prompt passed as one argument: Linux refuses an argument over 128 KiB.
pub const MAX_PROMPT_ARGUMENT: usize = 96 * 1024;

/// The preset names, in the order help lists them.
pub const PRESETS: [&str; 7] = [
    "kimi", "claude", "codex", "gemini", "aider", "opencode", "command",
];

/// An agent cannot be set up as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("unknown agent `{name}`: use one of {}", PRESETS.join(", "))]
    Unknown { name: String },
    #[error("the `command` agent needs its command line: pass --agent-cmd '<command>'")]
    MissingCommand,
    #[error("--agent-cmd is empty: give the command line that runs the agent")]
    EmptyCommand,
    #[error("no agent is configured for this goal: pass --agent ({})", PRESETS.join(", "))]
    NoneConfigured,
    #[error("the prompt for the {name} agent is {bytes} bytes, more than Linux passes in one argument (128 KiB), and {name} takes its prompt only as an argument: shorten the goal's prompt, or use claude, codex, aider or --agent-cmd")]
    PromptTooLong { name: String, bytes: usize },
}

/// What to launch: the program, its arguments, what to write on stdin, and environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    pub stdin: Option<Vec<u8>>,
    pub env: Vec<(String, String)>,
    /// Returns the command line as recorded: the prompt shown as `{prompt}`.
    pub recorded_argv: Vec<String>,
}

/// The identity of the run an invocation is for, passed to the agent as environment.
#[derive(Clone, Copy, Debug)]
pub struct RunIds<'a> {
    pub goal_id: &'a str,
    pub task_id: &'a str,
    pub worktree: &'a Path,
    pub prompt_file: &'a Path,
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

/// Returns the backend `name` (with `agent_cmd` for `command`).
pub fn backend(name: &str, agent_cmd: Option<&str>) -> Result<Backend, AgentError> {
    let preset = |template: &[&str], prompt_via, dialect| Backend {
        name: name.to_owned(),
        template: words(template),
        prompt_via,
        env: Vec::new(),
        dialect,
        side_files: Vec::new(),
        long_prompt: None,
    };
    let with_env = |mut backend: Backend, env: &[(&str, &str)]| {
        backend.env = env
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        backend
    };
    Ok(match name {
        // Kimi Code (npm @moonshot-ai/kimi-code): `-p` runs headless, always in auto
        // permission mode; the retired Python kimi-cli took `--print` and now does nothing.
        "kimi" => with_env(
            preset(
                &["kimi", "-p", "{prompt}", "--output-format", "stream-json"],
                PromptVia::Argument,
                Dialect::Kimi,
            ),
            &[("KIMI_CODE_NO_AUTO_UPDATE", "1")],
        ),
        "claude" => Backend {
            long_prompt: Some(LongPrompt::Stdin { placeholder: None }),
            ..preset(
                &[
                    "claude",
                    "-p",
                    "{prompt}",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--permission-mode",
                    "acceptEdits",
                    // acceptEdits approves edits only: in its own worktree the agent may also run
                    // commands (tests, builds, git), which `-p` would otherwise deny.
                    "--allowedTools",
                    "Bash,Edit,MultiEdit,Write,Read,Glob,Grep,LS,TodoWrite",
                ],
                PromptVia::Argument,
                Dialect::Claude,
            )
        },
        "codex" => Backend {
            // `-` reads the instructions from stdin.
            long_prompt: Some(LongPrompt::Stdin {
                placeholder: Some("-"),
            }),
            ..preset(
                &[
                    "codex",
                    "exec",
                    "--json",
                    "--sandbox",
                    "workspace-write",
                    "-C",
                    "{worktree}",
                    "{prompt}",
                ],
                PromptVia::Argument,
                Dialect::Codex,
            )
        },
        // Headless with the default approval mode, gemini denies writes and shell commands;
        // a fresh worktree is an untrusted folder unless trusted (exit 55 otherwise).
        "gemini" => with_env(
            preset(
                &[
                    "gemini",
                    "-p",
                    "{prompt}",
                    "--output-format",
                    "stream-json",
                    "--approval-mode",
                    "yolo",
                ],
                PromptVia::Argument,
                Dialect::Gemini,
            ),
            &[("GEMINI_CLI_TRUST_WORKSPACE", "true")],
        ),
        // Its histories go beside the prompt file, outside the worktree; `--no-gitignore`
        // keeps it from editing `.gitignore`; its tag cache stays a side file.
        "aider" => Backend {
            side_files: vec![".aider*".to_owned()],
            long_prompt: Some(LongPrompt::File {
                flag: "--message",
                file_flag: "--message-file",
            }),
            ..preset(
                &[
                    "aider",
                    "--message",
                    "{prompt}",
                    "--yes-always",
                    "--no-pretty",
                    "--no-stream",
                    "--no-gitignore",
                    "--no-analytics",
                    "--no-check-update",
                    "--no-show-release-notes",
                    "--chat-history-file",
                    "{prompt_file}.aider.chat.history.md",
                    "--input-history-file",
                    "{prompt_file}.aider.input.history",
                ],
                PromptVia::Argument,
                Dialect::Aider,
            )
        },
        "opencode" => preset(
            &["opencode", "run", "--format", "json", "{prompt}"],
            PromptVia::Argument,
            Dialect::Opencode,
        ),
        "command" => {
            let command = agent_cmd.ok_or(AgentError::MissingCommand)?;
            if command.trim().is_empty() {
                return Err(AgentError::EmptyCommand);
            }
            Backend {
                name: name.to_owned(),
                template: vec!["sh".to_owned(), "-c".to_owned(), command.to_owned()],
                prompt_via: PromptVia::Stdin,
                env: Vec::new(),
                dialect: Dialect::Command,
                side_files: Vec::new(),
                long_prompt: None,
            }
        }
        other => {
            return Err(AgentError::Unknown {
                name: other.to_owned(),
            })
        }
    })
}

impl Backend {
    /// Returns what to launch for `prompt` in the run `ids`; a prompt too long for one
    /// argument goes on stdin (or in its file) where the CLI takes it so.
    pub fn invocation(&self, prompt: &str, ids: RunIds<'_>) -> Result<Invocation, AgentError> {
        let (template, prompt_via) = match (self.long_prompt, self.prompt_via) {
            (_, PromptVia::Stdin) => (self.template.clone(), PromptVia::Stdin),
            (_, PromptVia::Argument) if prompt.len() <= MAX_PROMPT_ARGUMENT => {
                (self.template.clone(), PromptVia::Argument)
            }
            (Some(long), PromptVia::Argument) => long.apply(&self.template),
            (None, PromptVia::Argument) => {
                return Err(AgentError::PromptTooLong {
                    name: self.name.clone(),
                    bytes: prompt.len(),
                })
            }
        };
        let worktree = ids.worktree.display().to_string();
        let prompt_file = ids.prompt_file.display().to_string();
        let fill = |part: &String, prompt_text: &str| {
            part.replace("{worktree}", &worktree)
                .replace("{prompt_file}", &prompt_file)
                .replace("{prompt}", prompt_text)
        };
        let mut argv: Vec<String> = template.iter().map(|part| fill(part, prompt)).collect();
        let recorded_argv = template.iter().map(|part| fill(part, "{prompt}")).collect();
        let program = argv.remove(0);
        let mut env = vec![
            ("OMK_GOAL_ID".to_owned(), ids.goal_id.to_owned()),
            ("OMK_TASK_ID".to_owned(), ids.task_id.to_owned()),
            ("OMK_WORKTREE".to_owned(), worktree.clone()),
            ("OMK_PROMPT_FILE".to_owned(), prompt_file.clone()),
        ];
        env.extend(self.env.iter().cloned());
        Ok(Invocation {
            program,
            args: argv,
            stdin: (prompt_via == PromptVia::Stdin).then(|| prompt.as_bytes().to_vec()),
            env,
            recorded_argv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fill_their_templates_and_record_the_prompt_as_a_placeholder() {
        let ids = RunIds {
            goal_id: "g-1",
            task_id: "slice-1",
            worktree: Path::new("/w/slice-1"),
            prompt_file: Path::new("/p/slice-1.md"),
        };
        let codex = backend("codex", None)
            .unwrap()
            .invocation("do it", ids)
            .unwrap();
        assert_eq!(codex.program, "codex");
        assert_eq!(
            codex.args,
            [
                "exec",
                "--json",
                "--sandbox",
                "workspace-write",
                "-C",
                "/w/slice-1",
                "do it"
            ]
        );
        assert_eq!(codex.stdin, None, "codex runs with stdin closed");
        assert_eq!(codex.recorded_argv.last().unwrap(), "{prompt}");
        let command = backend("command", Some("./agent.sh --fast"))
            .unwrap()
            .invocation("do it", ids)
            .unwrap();
        assert_eq!(
            (command.program.as_str(), command.args.as_slice()),
            ("sh", &["-c".to_owned(), "./agent.sh --fast".to_owned()][..])
        );
        assert_eq!(command.stdin.as_deref(), Some(&b"do it"[..]));
        assert!(command
            .env
            .contains(&("OMK_PROMPT_FILE".to_owned(), "/p/slice-1.md".to_owned())));
        assert_eq!(backend("command", None), Err(AgentError::MissingCommand));
        assert_eq!(
            backend("command", Some("  ")),
            Err(AgentError::EmptyCommand)
        );
        assert_eq!(
            backend("gpt", None),
            Err(AgentError::Unknown { name: "gpt".into() })
        );
        // A prompt over one argument's limit goes on stdin where the CLI takes it so.
        let long = "x".repeat(MAX_PROMPT_ARGUMENT + 1);
        let codex = backend("codex", None)
            .unwrap()
            .invocation(&long, ids)
            .unwrap();
        assert_eq!(codex.args.last().unwrap(), "-");
        assert_eq!(codex.stdin.as_deref().map(<[u8]>::len), Some(long.len()));
        let aider = backend("aider", None)
            .unwrap()
            .invocation(&long, ids)
            .unwrap();
        assert_eq!(aider.args[..2], ["--message-file", "/p/slice-1.md"]);
        assert_eq!(aider.stdin, None);
        assert!(matches!(
            backend("gemini", None).unwrap().invocation(&long, ids),
            Err(AgentError::PromptTooLong { .. })
        ));
    }
}
