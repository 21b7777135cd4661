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
}

/// Reads one agent's output line by line.
#[derive(Clone, Debug)]
pub struct UsageReader {
    dialect: Dialect,
    report: AgentReport,
}

/// The longest final message kept (the full text is in the transcript artifact).
const MAX_CLAIM_CHARS: usize = 2000;

impl UsageReader {
    /// Returns a reader for `dialect`.
    pub fn new(dialect: Dialect) -> UsageReader {
        UsageReader {
            dialect,
            report: AgentReport::default(),
        }
    }

    /// Reads one line of the agent's stdout.
    pub fn observe(&mut self, line: &str) {
        let line = line.trim();
        if self.dialect == Dialect::Aider {
            self.observe_aider(line);
            return;
        }
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        match (self.dialect, kind) {
            (Dialect::Claude | Dialect::Command, "result")
                if value.get("total_cost_usd").is_some() || value.get("subtype").is_some() =>
            {
                self.claude_result(&value)
            }
            (Dialect::Codex | Dialect::Command, "turn.completed") => self.codex_turn(&value),
            (Dialect::Codex | Dialect::Command, "item.completed") => {
                let item = &value["item"];
                if item.get("type").and_then(Value::as_str) == Some("agent_message") {
                    self.claim(item.get("text"));
                }
            }
            (Dialect::Gemini | Dialect::Command, "result") => self.gemini_result(&value),
            (Dialect::Gemini, "message")
                if value.get("role").and_then(Value::as_str) == Some("assistant") =>
            {
                self.claim(value.get("content"))
            }
            (Dialect::Opencode | Dialect::Command, "step_finish") => self.opencode_step(&value),
            (Dialect::Opencode | Dialect::Command, "text") => {
                self.claim(value.pointer("/part/text"))
            }
            (Dialect::Command, "usage") => {
                self.add_usage(
                    number(value.get("input_tokens")),
                    number(value.get("output_tokens")),
                    usd(value.get("usd")),
                );
            }
            (Dialect::Kimi, _) => {
                if value.get("role").and_then(Value::as_str) == Some("assistant") {
                    self.claim(value.get("content"));
                }
                if let Some(usage) = value.get("usage") {
                    let (input, output) = (
                        number(usage.get("input_tokens")),
                        number(usage.get("output_tokens")),
                    );
                    self.add_usage(input, output, None);
                }
            }
            _ => {}
        }
    }

    /// Returns the report, given how the process ended.
    pub fn finish(mut self, exit_code: Option<i32>) -> AgentReport {
        if self.dialect == Dialect::Gemini
            && exit_code == Some(53)
            && self.report.limit_stop.is_none()
        {
            self.report.limit_stop = Some("gemini stopped at its turn limit (exit 53)".to_owned());
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
        let usage = &value["usage"];
        let input = [
            number(usage.get("input_tokens")),
            number(usage.get("cache_creation_input_tokens")),
            number(usage.get("cache_read_input_tokens")),
        ];
        // Cache tokens are input too; the total is unknown only when none is reported.
        let input = input
            .iter()
            .any(Option::is_some)
            .then(|| input.iter().flatten().sum());
        self.add_usage(
            input,
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

    fn codex_turn(&mut self, value: &Value) {
        let usage = &value["usage"];
        self.add_usage(
            number(usage.get("input_tokens")),
            number(usage.get("output_tokens")),
            None,
        );
    }

    fn gemini_result(&mut self, value: &Value) {
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
        self.add_usage(
            number(part.pointer("/tokens/input")),
            number(part.pointer("/tokens/output")),
            usd(part.get("cost")),
        );
    }

    fn observe_aider(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("Tokens: ") else {
            if !line.is_empty() {
                self.report.final_message = Some(truncate(line));
            }
            return;
        };
        // Each message line carries that message's tokens and the session's running cost;
        // newer versions add cache segments between `sent` and `received`.
        let segment = |suffix: &str| {
            rest.split(", ")
                .flat_map(|part| part.split(". "))
                .find_map(|part| part.trim().strip_suffix(suffix).and_then(abbreviated))
        };
        self.add_usage(segment(" sent"), segment(" received"), None);
        if let Some(session) = rest
            .split("Cost: ")
            .nth(1)
            .and_then(|cost| cost.split(", ").nth(1))
        {
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
