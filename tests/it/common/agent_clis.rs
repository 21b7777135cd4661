//! The real agent CLIs, when installed, pointed at the local model stub in `fixtures/stubs/`.
//! CI installs none of them: a test that needs one skips it, saying why and how to install it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // Tests start processes.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Every preset with a real CLI: (preset, program, how to install it).
pub const PRESETS: [(&str, &str, &str); 5] = [
    (
        "claude",
        "claude",
        "npm install -g @anthropic-ai/claude-code",
    ),
    ("aider", "aider", "pip install aider-chat"),
    ("opencode", "opencode", "npm install -g opencode-ai"),
    ("gemini", "gemini", "npm install -g @google/gemini-cli"),
    (
        "kimi",
        "kimi",
        "npm install -g @moonshot-ai/kimi-code (Node 22.19 or newer)",
    ),
];

/// The model stub, running until dropped.
pub struct ModelStub {
    child: Child,
    pub port: u16,
}

impl ModelStub {
    /// Starts the stub with `args` (`--path`, `--content`, …: see the stub's own help).
    pub fn start(args: &[&str]) -> ModelStub {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .arg(format!(
                "{}/fixtures/stubs/model-stub.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port = first.trim().strip_prefix("port ").unwrap().parse().unwrap();
        ModelStub { child, port }
    }

    /// Returns the environment that points `preset` at this stub, with `home` as its home
    /// (where the settings some CLIs need are written).
    pub fn environment(&self, preset: &str, home: &Path) -> Vec<(String, String)> {
        let base = format!("http://127.0.0.1:{}", self.port);
        let v1 = format!("{base}/v1");
        let opencode_config = home.join("opencode.json");
        fs::write(
            &opencode_config,
            serde_json::json!({
                "provider": {"stub": {
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "Stub",
                    "options": {"baseURL": v1, "apiKey": "stub-key"},
                    "models": {"stub-model": {"name": "stub-model"}}
                }},
                "model": "stub/stub-model",
                "autoupdate": false,
                "share": "disabled"
            })
            .to_string(),
        )
        .unwrap();
        // gemini-cli takes its API key only once told to use one.
        fs::create_dir_all(home.join(".gemini")).unwrap();
        fs::write(
            home.join(".gemini/settings.json"),
            r#"{"security":{"auth":{"selectedType":"gemini-api-key"}}}"#,
        )
        .unwrap();
        // Each CLI gets only its own provider's settings: aider would pick Anthropic's API if
        // it saw an Anthropic key.
        let pairs: Vec<(&str, String)> = match preset {
            "claude" => vec![
                ("ANTHROPIC_BASE_URL", base),
                ("ANTHROPIC_API_KEY", "stub-key".to_owned()),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
                ("DISABLE_AUTOUPDATER", "1".to_owned()),
            ],
            "aider" => vec![
                ("OPENAI_API_BASE", v1),
                ("OPENAI_API_KEY", "stub-key".to_owned()),
                ("LITELLM_LOCAL_MODEL_COST_MAP", "True".to_owned()),
            ],
            "gemini" => vec![
                ("GEMINI_API_KEY", "stub-key".to_owned()),
                ("GOOGLE_GEMINI_BASE_URL", base),
            ],
            "kimi" => vec![
                ("KIMI_MODEL_NAME", "stub".to_owned()),
                ("KIMI_MODEL_API_KEY", "stub-key".to_owned()),
                ("KIMI_MODEL_PROVIDER_TYPE", "kimi".to_owned()),
                ("KIMI_MODEL_BASE_URL", v1),
            ],
            _ => vec![("OPENCODE_CONFIG", opencode_config.display().to_string())],
        };
        let mut env: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        env.push(("HOME".to_owned(), home.display().to_string()));
        env.push((
            "KIMI_CODE_HOME".to_owned(),
            home.join(".kimi-code").display().to_string(),
        ));
        env
    }
}

impl Drop for ModelStub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Points `command` at the stub for `preset`: its environment, and no real provider keys.
pub fn isolate(command: &mut Command, env: &[(String, String)]) {
    command
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .envs(env.iter().map(|(key, value)| (key, value)));
}

/// Returns whether `program` is on `PATH`.
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Returns whether the preset's real CLI can run here; when not, prints why it is skipped.
pub fn runnable(preset: &str, program: &str, install: &str) -> bool {
    if !installed("python3") {
        eprintln!("skipped the {preset} preset: the model stub needs python3");
        return false;
    }
    if !installed(program) {
        eprintln!("skipped the {preset} preset: `{program}` is not on PATH ({install})");
        return false;
    }
    let version = Command::new(program).arg("--version").output().ok();
    let version = version.map_or(String::new(), |out| {
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    if version.starts_with("kimi, version") {
        eprintln!("skipped the kimi preset: `kimi` is the retired kimi-cli ({install})");
        return false;
    }
    true
}
