//! Agent transcripts (`fixtures/transcripts/`, see its README for where each comes from), one
//! or more per preset, read into usage, the agent's claim and its failure. Unknown lines, stray
//! text and future event kinds must be ignored, what an agent does not report must stay
//! unknown (`None`), never 0, and an error in the stream is a failure even after exit 0.

use omk::shell::agent::{backend, AgentFailure, AgentReport, FailureKind, UsageReader};

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
        failure: None,
    }
}

/// Returns `report` with a failure of `kind` whose message starts with `message`.
fn failed(mut report: AgentReport, kind: FailureKind, message: &str) -> AgentReport {
    report.failure = Some(AgentFailure {
        kind,
        message: message.to_owned(),
    });
    report
}

/// Reads a transcript and checks its failure by kind and message start (messages are long).
fn check_failure(preset: &str, file: &str, exit_code: Option<i32>, expected: AgentReport) {
    let mut actual = read(preset, file, exit_code);
    let (Some(got), Some(want)) = (&actual.failure, &expected.failure) else {
        assert_eq!(actual, expected, "{file}");
        return;
    };
    assert_eq!(got.kind, want.kind, "{file}: {}", got.message);
    assert!(
        got.message.starts_with(&want.message),
        "{file}: {:?} does not start with {:?}",
        got.message,
        want.message
    );
    actual.failure = expected.failure.clone();
    assert_eq!(actual, expected, "{file}");
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
                Some(3000),
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

#[test]
fn each_failure_shape_is_read_as_a_failure_of_its_kind() {
    let cases = [
        (
            "gemini",
            "gemini-deltas-quota.jsonl",
            Some(1),
            failed(
                report(
                    Some(1000),
                    Some(300),
                    None,
                    Some("The flag is in place."),
                    None,
                ),
                FailureKind::QuotaExhausted,
                "[API Error: You exceeded your current quota",
            ),
        ),
        (
            "gemini",
            "gemini-policy-denied.jsonl",
            Some(0),
            failed(
                report(
                    Some(100),
                    Some(20),
                    None,
                    Some("I cannot write files here."),
                    None,
                ),
                FailureKind::CannotEdit,
                "gemini's policy denied write_file-1-0",
            ),
        ),
        (
            "gemini",
            "gemini-untrusted.txt",
            Some(55),
            failed(
                report(None, None, None, None, None),
                FailureKind::CannotEdit,
                "gemini refused an untrusted folder (exit 55)",
            ),
        ),
        (
            "gemini",
            "gemini-untrusted.txt",
            Some(173),
            failed(
                report(None, None, None, None, None),
                FailureKind::RateLimited,
                "gemini was rate limited (HTTP 429, exit 173)",
            ),
        ),
        (
            "aider",
            "aider-cache-rate-limit.txt",
            Some(0),
            failed(
                report(
                    Some(2300),
                    Some(150),
                    Some(9100),
                    Some("Applied edit to src/list.rs"),
                    None,
                ),
                FailureKind::RateLimited,
                "The API provider has rate limited you.",
            ),
        ),
        (
            "claude",
            "claude-is-error.jsonl",
            Some(1),
            failed(
                report(Some(10), Some(3), Some(100), None, None),
                FailureKind::RateLimited,
                "API Error: 429",
            ),
        ),
        (
            "codex",
            "codex-usage-limit.jsonl",
            Some(1),
            failed(
                report(None, None, None, None, None),
                FailureKind::QuotaExhausted,
                "You've hit your usage limit.",
            ),
        ),
        (
            "opencode",
            "opencode-rate-limited.jsonl",
            Some(1),
            failed(
                report(None, None, None, None, None),
                FailureKind::RateLimited,
                "Rate limit reached for requests",
            ),
        ),
        (
            "opencode",
            "opencode-rejected.jsonl",
            Some(0),
            failed(
                report(Some(100), Some(15), Some(1000), None, None),
                FailureKind::CannotEdit,
                "opencode auto-rejected 1 permission request(s)",
            ),
        ),
        (
            "kimi",
            "kimi-cli-retryable.jsonl",
            Some(75),
            failed(
                report(None, None, None, Some("I added it."), None),
                FailureKind::RateLimited,
                "kimi-cli exited 75",
            ),
        ),
        (
            "kimi",
            "kimi-cli-retired.txt",
            Some(0),
            failed(
                report(None, None, None, None, None),
                FailureKind::Failed,
                "the installed `kimi` is the retired Python kimi-cli",
            ),
        ),
    ];
    for (preset, file, exit_code, expected) in cases {
        check_failure(preset, file, exit_code, expected);
    }
}

#[test]
fn a_claude_run_cut_off_before_its_result_keeps_each_messages_last_usage() {
    // msg_01 streamed twice (the later report counts once), then msg_02: no `result` arrived.
    assert_eq!(
        read("claude", "claude-cut-off.jsonl", None),
        report(Some(2130), Some(70), None, None, None)
    );
}

#[test]
fn kimi_code_names_its_session_and_a_retry_alone_is_no_failure() {
    let text = std::fs::read_to_string(format!(
        "{}/fixtures/transcripts/kimi-code.jsonl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut reader = UsageReader::new(backend("kimi", None).unwrap().dialect);
    for line in text.lines() {
        reader.observe(line);
    }
    assert_eq!(reader.session_id.as_deref(), Some("f3c1e2d4"));
    assert_eq!(
        reader.clone().finish(Some(0)),
        report(None, None, None, Some("Added the --json flag."), None)
    );
    // The same retries, then a failed exit: the last retry's error says why.
    let failed_run = reader.clone().finish(Some(1));
    assert_eq!(
        failed_run.failure.map(|failure| failure.kind),
        Some(FailureKind::RateLimited)
    );
    // Kimi Code reports its final error on stderr.
    reader
        .observe_stderr("error: failed to run prompt: provider.rate_limit: 429 Too Many Requests");
    reader.observe_stderr("See log: /root/.kimi-code/logs/kimi.log");
    let failure = reader.finish(Some(1)).failure.unwrap();
    assert_eq!(failure.kind, FailureKind::RateLimited);
    assert_eq!(failure.message, "429 Too Many Requests");
}
