//! Reading an agent's streamed output into normalised usage: tokens, USD, the agent's own
//! final message (a claim, never evidence), and whether it stopped on its own budget or
//! turn limit.
//!
//! Tolerant by design: agent CLIs change their stream formats, so every line that is not
//! understood is left to the transcript and ignored here. What an agent does not report stays
//! `None` ("unknown"), never 0.

use serde_json::Value;

/// How an agent reports usage on its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Claude Code `--output-format stream-json`: the final `result` event has `usage` and
    /// `total_cost_usd`; `subtype: error_max_turns` is its turn limit.
    Claude,
    /// Codex `exec --json`: `turn.completed` events carry `usage`; no cost.
    Codex,
    /// Gemini CLI `--output-format stream-json`: the final `result` event carries `stats`;
    /// exit status 53 is its turn limit.
    Gemini,
    /// Kimi CLI `--print --output-format stream-json`: messages only; usage is not reported
    /// (a `usage` object on a message is read if a future version adds one).
    Kimi,
    /// opencode `run --format json`: `step_finish` parts carry `tokens` and `cost`.
    Opencode,
    /// aider `--no-pretty`: text lines `Tokens: 2.3k sent, 150 received. Cost: $0.01 message, $0.03 session.`
    Aider,
    /// Any command: a `{"type":"usage", "input_tokens", "output_tokens", "usd"}` line, or any
    /// of the JSON shapes above.
    Command,
}

/// What an agent reported about its run, as far as its output says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentReport {
    /// Returns the input tokens reported, or `None` when the agent did not say.
    pub input_tokens: Option<u64>,
    /// Returns the output tokens reported, or `None` when the agent did not say.
    pub output_tokens: Option<u64>,
    /// Returns the cost reported, in millionths of a US dollar, or `None`.
    pub usd_micros: Option<u64>,
    /// Returns the agent's last message: what it claims, kept as a claim.
    pub final_message: Option<String>,
    /// Returns why the agent stopped on its own limit (turns, budget), if it did.
    pub limit_stop: Option<String>,
    /// Why the run failed, as the agent's own output says: an error result, an error event,
    /// a known error text, or an exit status the CLI documents. A run that exits 0 with one is
    /// a failure.
    pub failure: Option<AgentFailure>,
}

/// What kind of failure an agent reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// It failed; the message says why.
    Failed,
    /// The provider rate-limited it: worth trying again later.
    RateLimited,
    /// Its quota or credits are used up: no retry helps until someone raises them.
    QuotaExhausted,
    /// It was not allowed to edit or run what it needed (permissions, an untrusted folder).
    CannotEdit,
}

/// A failure the agent reported, in its own words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentFailure {
    pub kind: FailureKind,
    /// The CLI's own message (cut to a few hundred characters).
    pub message: String,
}

/// The longest failure message kept (the full text is in the transcript).
const MAX_FAILURE_CHARS: usize = 400;

/// Returns the kind of a failure from its message and, when known, its HTTP status.
pub fn classify(message: &str, status: Option<u64>) -> FailureKind {
    let lower = message.to_lowercase();
    let said = |words: &[&str]| words.iter().any(|word| lower.contains(word));
    // A limit that lifts by itself says so ("retry in 35s", "per minute"), even when it is
    // worded as a quota.
    let passing = said(&[
        "retry in",
        "try again in",
        "per minute",
        "per-minute",
        "retry after",
    ]);
    let status_429 = status == Some(429) || has_number(&lower, "429");
    if passing && (status_429 || said(&["quota", "rate limit", "rate_limit"])) {
        FailureKind::RateLimited
    } else if said(&[
        "exceeded your current quota",
        "quota exceeded",
        "quota has been exhausted",
        "usage limit",
        "insufficient credits",
        "insufficient balance",
        "insufficient_quota",
        "credit balance is too low",
    ]) || status == Some(402)
    {
        FailureKind::QuotaExhausted
    } else if status_429
        || said(&[
            "rate limit",
            "rate_limit",
            "ratelimit",
            "too many requests",
            "overloaded",
        ])
    {
        FailureKind::RateLimited
    } else if said(&[
        "denied by policy",
        "permission",
        "untrusted",
        "not allowed to",
        "auto-rejecting",
    ]) {
        FailureKind::CannotEdit
    } else {
        FailureKind::Failed
    }
}

/// Returns whether `text` holds `number` as a number of its own (not inside `2042930`).
fn has_number(text: &str, number: &str) -> bool {
    text.match_indices(number).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + number.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

fn failure(kind: FailureKind, message: &str) -> AgentFailure {
    AgentFailure {
        kind,
        message: message.trim().chars().take(MAX_FAILURE_CHARS).collect(),
    }
}

/// Reads one agent's output line by line.
#[derive(Clone, Debug)]
pub struct UsageReader {
    dialect: Dialect,
    report: AgentReport,
    /// Claude: usage of each assistant message by id, for a run cut off before its `result`.
    message_usage: Vec<(String, Option<u64>, Option<u64>)>,
    /// Whether a final usage report (Claude's `result`) arrived.
    final_usage: bool,
    /// Gemini: the assistant text streamed since the last tool call, in `delta` chunks.
    deltas: String,
    /// The last error a CLI reported without ending the run (a retry notice), used if it fails.
    last_error: Option<AgentFailure>,
    /// Kimi Code: the session id its last line names, where its usage is recorded.
    pub session_id: Option<String>,
    /// A command agent's last line of plain text: its claim when it makes none in JSON.
    plain_claim: Option<String>,
}

/// The longest final message kept (the full text is in the transcript artifact).
const MAX_CLAIM_CHARS: usize = 2000;

impl UsageReader {
    /// Returns a reader for `dialect`.
    pub fn new(dialect: Dialect) -> UsageReader {
        UsageReader {
            dialect,
            report: AgentReport::default(),
            message_usage: Vec::new(),
            final_usage: false,
            deltas: String::new(),
            last_error: None,
            session_id: None,
            plain_claim: None,
        }
    }

    /// Reads one line of the agent's stdout.
    pub fn observe(&mut self, line: &str) {
        let line = line.trim();
        if self.dialect == Dialect::Aider {
            self.observe_aider(line);
            return;
        }
        if line.contains("kimi-cli is no longer maintained") {
            self.report.failure = Some(failure(
                FailureKind::Failed,
                "the installed `kimi` is the retired Python kimi-cli, which does nothing and exits 0: install Kimi Code (npm install -g @moonshot-ai/kimi-code)",
            ));
            return;
        }
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            if self.dialect == Dialect::Command && !line.is_empty() {
                self.plain_claim = Some(truncate(line));
            }
            return;
        };
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        match (self.dialect, kind) {
            (Dialect::Claude | Dialect::Command, "result")
                if value.get("total_cost_usd").is_some() || value.get("subtype").is_some() =>
            {
                self.claude_result(&value)
            }
            (Dialect::Claude, "assistant") => self.claude_message(&value),
            (Dialect::Codex | Dialect::Command, "turn.completed") => self.codex_turn(&value),
            (Dialect::Codex | Dialect::Command, "item.completed") => {
                let item = &value["item"];
                if item.get("type").and_then(Value::as_str) == Some("agent_message") {
                    self.claim(item.get("text"));
                }
            }
            (Dialect::Codex, "turn.failed") => {
                let message = text_at(&value, "/error/message").unwrap_or("the turn failed");
                self.report.failure = Some(failure(classify(message, None), message));
            }
            (Dialect::Codex, "error") => {
                // Also retry notices ("Reconnecting... 2/5"): kept in case the run fails.
                let message = text_at(&value, "/message").unwrap_or("an error");
                self.last_error = Some(failure(classify(message, None), message));
            }
            (Dialect::Gemini | Dialect::Command, "result") => self.gemini_result(&value),
            (Dialect::Gemini, "message")
                if value.get("role").and_then(Value::as_str) == Some("assistant") =>
            {
                self.gemini_delta(&value)
            }
            (Dialect::Gemini, "tool_use") => self.deltas.clear(),
            (Dialect::Gemini, "tool_result")
                if text_at(&value, "/error/type") == Some("policy_violation") =>
            {
                let tool = text_at(&value, "/tool_id").unwrap_or("a tool");
                let message = format!("gemini's policy denied {tool}: it runs headless only with --approval-mode yolo in a trusted folder");
                self.report.failure = Some(failure(FailureKind::CannotEdit, &message));
            }
            (Dialect::Opencode | Dialect::Command, "step_finish") => self.opencode_step(&value),
            (Dialect::Opencode | Dialect::Command, "text") => {
                self.claim(value.pointer("/part/text"))
            }
            (Dialect::Opencode, "error") => {
                let message = text_at(&value, "/error/data/message")
                    .or_else(|| text_at(&value, "/error/name"))
                    .unwrap_or("an error");
                let status = number(value.pointer("/error/data/statusCode"));
                self.report.failure = Some(failure(classify(message, status), message));
            }
            (Dialect::Opencode, "done") => {
                let rejected = value.get("rejected").and_then(Value::as_array);
                if let Some(rejected) = rejected.filter(|rejected| !rejected.is_empty()) {
                    let message = format!(
                        "opencode auto-rejected {} permission request(s): {}",
                        rejected.len(),
                        Value::Array(rejected.clone())
                    );
                    self.report.failure = Some(failure(FailureKind::CannotEdit, &message));
                }
            }
            (Dialect::Command, "usage") => {
                self.add_usage(
                    number(value.get("input_tokens")),
                    number(value.get("output_tokens")),
                    usd(value.get("usd")),
                );
            }
            (Dialect::Kimi, _) => self.kimi_line(&value),
            _ => {}
        }
    }

    /// Reads one line of the agent's stderr, where some CLIs report their final error.
    pub fn observe_stderr(&mut self, line: &str) {
        let line = line.trim();
        // Kimi Code: `error: failed to run prompt: provider.rate_limit: <message>`.
        if let Some(rest) = line.strip_prefix("error: failed to run prompt: ") {
            let (code, message) = rest.split_once(": ").unwrap_or(("", rest));
            let kind = match code {
                "provider.rate_limit" => FailureKind::RateLimited,
                _ => classify(rest, None),
            };
            self.report.failure = Some(failure(kind, message));
        }
        if line.contains("kimi-cli is no longer maintained") {
            self.observe(line);
        }
    }

    /// Returns the report, given how the process ended.
    pub fn finish(mut self, exit_code: Option<i32>) -> AgentReport {
        if !self.final_usage {
            // Cut off before its final report (a timeout): what each message said it used.
            for (_, input, output) in std::mem::take(&mut self.message_usage) {
                self.add_usage(input, output, None);
            }
        }
        if !self.deltas.trim().is_empty() {
            self.report.final_message = Some(truncate(&self.deltas));
        }
        if self.report.final_message.is_none() {
            self.report.final_message = self.plain_claim.take();
        }
        if self.dialect == Dialect::Gemini {
            self.gemini_exit(exit_code);
        }
        if self.dialect == Dialect::Kimi && exit_code == Some(75) && self.report.failure.is_none() {
            self.report.failure = Some(failure(
                FailureKind::RateLimited,
                "kimi-cli exited 75: a retryable provider error (connection, timeout or HTTP 429/5xx)",
            ));
        }
        if exit_code != Some(0) && self.report.failure.is_none() {
            self.report.failure = self.last_error.take();
        }
        self.report
    }

    /// Adds one report of tokens and cost; what is `None` stays unknown.
    fn add_usage(&mut self, input: Option<u64>, output: Option<u64>, usd_micros: Option<u64>) {
        add(&mut self.report.input_tokens, input);
        add(&mut self.report.output_tokens, output);
        add(&mut self.report.usd_micros, usd_micros);
    }

    fn claude_result(&mut self, value: &Value) {
        self.final_usage = true;
        let subtype = text_at(value, "/subtype").unwrap_or("");
        let own_limit = subtype.contains("max_turns") || subtype.contains("budget");
        if value.get("is_error").and_then(Value::as_bool) == Some(true) && !own_limit {
            // API and usage-limit errors arrive as `subtype: success` with `is_error: true`.
            let message = text_at(value, "/result").unwrap_or("claude reported an error");
            let status = number(value.get("api_error_status"));
            self.report.failure = Some(failure(classify(message, status), message));
            let usage = &value["usage"];
            self.add_usage(
                claude_input(usage),
                number(usage.get("output_tokens")),
                usd(value.get("total_cost_usd")),
            );
            return;
        }
        let usage = &value["usage"];
        self.add_usage(
            claude_input(usage),
            number(usage.get("output_tokens")),
            usd(value.get("total_cost_usd")),
        );
        self.claim(value.get("result"));
        if let Some(subtype) = value.get("subtype").and_then(Value::as_str) {
            if subtype.contains("max_turns") || subtype.contains("budget") {
                self.report.limit_stop =
                    Some(format!("the agent stopped at its own limit ({subtype})"));
            }
        }
    }

    /// Keeps the usage of one Claude assistant message; a message streamed in several events
    /// shares its id, so the last report of each id counts.
    fn claude_message(&mut self, value: &Value) {
        let usage = value.pointer("/message/usage");
        let Some(usage) = usage else {
            return;
        };
        let id = text_at(value, "/message/id").unwrap_or("").to_owned();
        let entry = (id, claude_input(usage), number(usage.get("output_tokens")));
        match self
            .message_usage
            .iter_mut()
            .find(|(seen, _, _)| !seen.is_empty() && *seen == entry.0)
        {
            Some(seen) => *seen = entry,
            None => self.message_usage.push(entry),
        }
    }

    /// Codex reports the thread's running total at each turn: the last report is the usage.
    fn codex_turn(&mut self, value: &Value) {
        let usage = &value["usage"];
        self.report.input_tokens = number(usage.get("input_tokens"));
        self.report.output_tokens = number(usage.get("output_tokens"));
    }

    /// Gemini streams assistant text in `delta` chunks; a whole message is their sum.
    fn gemini_delta(&mut self, value: &Value) {
        let Some(text) = text_at(value, "/content") else {
            return;
        };
        if value.get("delta").and_then(Value::as_bool) == Some(true) {
            self.deltas.push_str(text);
        } else {
            self.deltas = text.to_owned();
        }
    }

    /// Gemini's documented exit statuses (`packages/core/src/utils/exitCodes.ts`).
    fn gemini_exit(&mut self, exit_code: Option<i32>) {
        let known = match exit_code {
            Some(53) => {
                if self.report.limit_stop.is_none() {
                    self.report.limit_stop =
                        Some("gemini stopped at its turn limit (exit 53)".to_owned());
                }
                return;
            }
            Some(41) => (FailureKind::Failed, "gemini could not authenticate (exit 41)"),
            Some(42) => (FailureKind::Failed, "gemini rejected its input (exit 42)"),
            Some(44) => (FailureKind::Failed, "gemini's sandbox failed (exit 44)"),
            Some(52) => (FailureKind::Failed, "gemini's configuration is invalid (exit 52)"),
            Some(54) => (FailureKind::Failed, "a gemini tool failed fatally, e.g. no space left (exit 54)"),
            Some(55) => (
                FailureKind::CannotEdit,
                "gemini refused an untrusted folder (exit 55): omk sets GEMINI_CLI_TRUST_WORKSPACE=true for its worktrees; check security.folderTrust in your gemini settings",
            ),
            // A provider's HTTP 429 leaks into the exit status, truncated to a byte.
            Some(173) => (FailureKind::RateLimited, "gemini was rate limited (HTTP 429, exit 173)"),
            _ => return,
        };
        if self.report.failure.is_none() {
            self.report.failure = Some(failure(known.0, known.1));
        }
    }

    /// Kimi Code lines are messages (`role`), with `meta` lines for retries and the session.
    fn kimi_line(&mut self, value: &Value) {
        match value.get("role").and_then(Value::as_str) {
            Some("assistant") => {
                if let Some(text) = message_text(value.get("content")) {
                    self.claim(Some(&Value::String(text)));
                }
            }
            Some("meta") => match text_at(value, "/type") {
                Some("turn.step.retrying") => {
                    let message = text_at(value, "/error_message").unwrap_or("a retry");
                    let status = number(value.get("status_code"));
                    self.last_error = Some(failure(classify(message, status), message));
                }
                Some("session.resume_hint") => {
                    self.session_id = text_at(value, "/session_id").map(str::to_owned);
                }
                _ => {}
            },
            _ => {}
        }
        if let Some(usage) = value.get("usage") {
            let (input, output) = (
                number(usage.get("input_tokens")),
                number(usage.get("output_tokens")),
            );
            self.add_usage(input, output, None);
        }
    }

    fn gemini_result(&mut self, value: &Value) {
        if text_at(value, "/status") == Some("error") {
            let message = text_at(value, "/error/message")
                .unwrap_or("gemini ended its run with status error");
            self.report.failure = Some(failure(classify(message, None), message));
        }
        let stats = &value["stats"];
        let input = number(stats.get("input_tokens")).or(number(stats.get("inputTokens")));
        let output = number(stats.get("output_tokens")).or(number(stats.get("outputTokens")));
        if input.is_some() || output.is_some() {
            self.add_usage(input, output, None);
        } else if let Some(models) = stats.get("models").and_then(Value::as_object) {
            // Older versions break usage down per model: prompt and candidates tokens.
            for model in models.values() {
                let prompt = number(model.pointer("/tokens/prompt"));
                self.add_usage(prompt, number(model.pointer("/tokens/candidates")), None);
            }
        }
        self.claim(value.get("response"));
    }

    fn opencode_step(&mut self, value: &Value) {
        let part = value.get("part").unwrap_or(value);
        // Cache reads and writes are input too; reasoning is output.
        let sum = |pointers: &[&str]| {
            let counts: Vec<Option<u64>> = pointers
                .iter()
                .map(|pointer| number(part.pointer(pointer)))
                .collect();
            counts
                .iter()
                .any(Option::is_some)
                .then(|| counts.iter().flatten().sum())
        };
        self.add_usage(
            sum(&["/tokens/input", "/tokens/cache/read", "/tokens/cache/write"]),
            sum(&["/tokens/output", "/tokens/reasoning"]),
            usd(part.get("cost")),
        );
    }

    fn observe_aider(&mut self, line: &str) {
        // aider prints its errors as text, and exits 0 after them.
        for (text, kind) in [
            (
                "The API provider has rate limited you",
                FailureKind::RateLimited,
            ),
            (
                "Insufficient credits with the API provider",
                FailureKind::QuotaExhausted,
            ),
            (
                "The API provider is not able to authenticate you",
                FailureKind::Failed,
            ),
        ] {
            if line.contains(text) {
                self.report.failure = Some(failure(kind, line));
                return;
            }
        }
        // Retry notices, the raw exception before each error text, and the fences of the
        // reply it echoes are not claims.
        if line.starts_with("Retrying in ")
            || line.starts_with("litellm.")
            || line.starts_with("```")
        {
            return;
        }
        if let Some(rest) = line.strip_prefix("Tokens: ") {
            // A model call went through after the error: aider retried it by itself.
            self.report.failure = None;
            // Each message line carries that message's tokens; newer versions add cache
            // segments between `sent` and `received`.
            let segment = |suffix: &str| {
                rest.split(", ")
                    .flat_map(|part| part.split(". "))
                    .find_map(|part| {
                        let part = part.trim().trim_end_matches('.');
                        part.strip_suffix(suffix).and_then(abbreviated)
                    })
            };
            // `sent` already counts cache writes and hits (litellm's prompt tokens include them).
            self.add_usage(segment(" sent"), segment(" received"), None);
            if let Some(cost) = rest.split("Cost: ").nth(1) {
                self.aider_cost(cost);
            }
            return;
        }
        // With both cache hits and writes, the cost comes on a line of its own.
        if let Some(cost) = line.strip_prefix("Cost: ") {
            self.aider_cost(cost);
            return;
        }
        if !line.is_empty() {
            self.report.final_message = Some(truncate(line));
        }
    }

    /// Reads `$0.01 message, $0.03 session.`: the session's running cost.
    fn aider_cost(&mut self, cost: &str) {
        if let Some(session) = cost.split(", ").nth(1) {
            let dollars = session
                .trim_start_matches('$')
                .split(' ')
                .next()
                .unwrap_or("");
            if let Ok(value) = dollars.parse::<f64>() {
                self.report.usd_micros = Some((value * 1e6).round() as u64);
            }
        }
    }

    fn claim(&mut self, text: Option<&Value>) {
        if let Some(text) = text
            .and_then(Value::as_str)
            .filter(|text| !text.trim().is_empty())
        {
            self.report.final_message = Some(truncate(text));
        }
    }
}

/// Returns the input tokens of a Claude usage object: cache writes and reads are input too;
/// unknown only when none is reported.
fn claude_input(usage: &Value) -> Option<u64> {
    let input = [
        number(usage.get("input_tokens")),
        number(usage.get("cache_creation_input_tokens")),
        number(usage.get("cache_read_input_tokens")),
    ];
    input
        .iter()
        .any(Option::is_some)
        .then(|| input.iter().flatten().sum())
}

/// Returns the text of a message's content: a string, or an array of parts whose `text`
/// parts are joined (thinking parts are left out).
fn message_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let text: Vec<&str> = parts
                .iter()
                .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect();
            (!text.is_empty()).then(|| text.join("\n"))
        }
        _ => None,
    }
}

fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_CLAIM_CHARS).collect()
}

fn number(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

fn usd(value: Option<&Value>) -> Option<u64> {
    value
        .and_then(Value::as_f64)
        .filter(|dollars| dollars.is_finite() && *dollars >= 0.0)
        .map(|dollars| (dollars * 1e6).round() as u64)
}

fn add(total: &mut Option<u64>, amount: Option<u64>) {
    if let Some(amount) = amount {
        *total = Some(total.unwrap_or(0).saturating_add(amount));
    }
}

/// Parses `2.3k`, `1.2M` or `150` as a count.
fn abbreviated(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, scale) = match text.chars().last()? {
        'k' | 'K' => (&text[..text.len() - 1], 1e3),
        'm' | 'M' => (&text[..text.len() - 1], 1e6),
        _ => (text, 1.0),
    };
    let value: f64 = digits.replace(',', "").parse().ok()?;
    Some((value * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_what_they_say_not_by_stray_digits_or_paths() {
        let cases = [
            ("Prompt is too long: 204293 tokens > 200000 maximum", None, FailureKind::Failed),
            ("API Error: 429 rate_limit_error", None, FailureKind::RateLimited),
            ("request failed", Some(429), FailureKind::RateLimited),
            (
                "You exceeded your current quota, please check your plan and billing details. Please retry in 35s.",
                Some(429),
                FailureKind::RateLimited,
            ),
            (
                "[API Error: You exceeded your current quota, please check your plan and billing details.]",
                None,
                FailureKind::QuotaExhausted,
            ),
            ("ENOENT: src/billing/quota.ts", None, FailureKind::Failed),
            ("Credit balance is too low", None, FailureKind::QuotaExhausted),
            ("Tool execution denied by policy.", None, FailureKind::CannotEdit),
        ];
        for (message, status, kind) in cases {
            assert_eq!(classify(message, status), kind, "{message}");
        }
    }

    #[test]
    fn aider_getting_past_a_rate_limit_by_itself_is_no_failure() {
        let mut reader = UsageReader::new(Dialect::Aider);
        reader.observe(
            "The API provider has rate limited you. Try again later or check your quotas.",
        );
        reader.observe("Retrying in 0.2 seconds...");
        reader.observe("Tokens: 1.2k sent, 80 received. Cost: $0.01 message, $0.01 session.");
        reader.observe("Applied edit to src/lib.rs");
        let report = reader.finish(Some(0));
        assert_eq!(report.failure, None);
        assert_eq!(
            report.final_message.as_deref(),
            Some("Applied edit to src/lib.rs")
        );
    }
}
