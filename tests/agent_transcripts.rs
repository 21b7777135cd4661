//! Recorded agent transcripts (`fixtures/transcripts/`), one or more per preset, read into
//! usage. Unknown lines, stray text and future event kinds must be ignored, and what an agent
//! does not report must stay unknown (`None`), never 0.

use omk::shell::agent::{backend, AgentReport, UsageReader};

fn read(preset: &str, file: &str, exit_code: Option<i32>) -> AgentReport {
    let text = std::fs::read_to_string(format!(
        "{}/fixtures/transcripts/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let dialect = backend(preset, Some("true")).unwrap().dialect;
    let mut reader = UsageReader::new(dialect);
    for line in text.lines() {
        reader.observe(line);
    }
    reader.finish(exit_code)
}

fn report(
    input: Option<u64>,
    output: Option<u64>,
    usd_micros: Option<u64>,
    claim: Option<&str>,
    limit: Option<&str>,
) -> AgentReport {
    AgentReport {
        input_tokens: input,
        output_tokens: output,
        usd_micros,
        final_message: claim.map(str::to_owned),
        limit_stop: limit.map(str::to_owned),
    }
}

#[test]
fn each_preset_reads_its_recorded_transcript() {
    let cases = [
        (
            "claude",
            "claude.jsonl",
            Some(0),
            report(
                Some(12_120),
                Some(850),
                Some(123_400),
                Some("Added --json to list and a test for it."),
                None,
            ),
        ),
        (
            "claude",
            "claude-max-turns.jsonl",
            Some(1),
            report(
                Some(1000),
                Some(2000),
                Some(500_000),
                None,
                Some("the agent stopped at its own limit (error_max_turns)"),
            ),
        ),
        (
            "codex",
            "codex.jsonl",
            Some(0),
            report(
                Some(25_763),
                Some(200),
                None,
                Some("Done: --json added."),
                None,
            ),
        ),
        (
            "gemini",
            "gemini.jsonl",
            Some(0),
            report(
                Some(2100),
                Some(400),
                None,
                Some("The flag is in place."),
                None,
            ),
        ),
        (
            "gemini",
            "gemini-models.jsonl",
            Some(53),
            report(
                Some(25_039),
                Some(25),
                None,
                Some("ok"),
                Some("gemini stopped at its turn limit (exit 53)"),
            ),
        ),
        (
            "kimi",
            "kimi.jsonl",
            Some(0),
            report(None, None, None, Some("I added the --json flag."), None),
        ),
        (
            "opencode",
            "opencode.jsonl",
            Some(0),
            report(
                Some(1800),
                Some(240),
                Some(14_400),
                Some("Editing list.rs now."),
                None,
            ),
        ),
        (
            "aider",
            "aider.txt",
            Some(0),
            report(
                Some(6400),
                Some(460),
                Some(29_100),
                Some("Commit 1a2b3c4 feat: add --json to list"),
                None,
            ),
        ),
        (
            "command",
            "command.jsonl",
            Some(0),
            report(Some(155), Some(35), Some(3000), Some("edited 1 file"), None),
        ),
    ];
    for (preset, file, exit_code, expected) in cases {
        assert_eq!(read(preset, file, exit_code), expected, "{file}");
    }
}
