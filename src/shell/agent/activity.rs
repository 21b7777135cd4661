//! What an agent is doing now, for progress lines: the last complete line of its output,
//! read as what it says or does.
//!
//! Lines are read whole as they arrive (the capture's tail keeps only the last 4 KiB, which
//! cuts a long JSON event); secrets in them are hidden, since progress lines reach CI logs.

use std::sync::{Arc, Mutex, PoisonError};

use crate::plan::secrets::mask;

/// The latest activity of one agent, shared between its output's reader and the progress view.
#[derive(Clone, Debug, Default)]
pub struct Activity(Arc<Mutex<String>>);

impl Activity {
    /// Notes a complete output line, unless it is blank.
    pub fn observe(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let said = mask(&readable(line));
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = said;
    }

    /// Returns the latest activity, or nothing before the first line.
    pub fn latest(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Returns what an agent's output line says, for a progress line. Agent CLIs stream JSON
/// events (Claude Code, Codex, Gemini, Kimi Code, opencode): for those, the text or the tool
/// the event carries; any other line as it is.
pub fn readable(line: &str) -> String {
    let Ok(event @ serde_json::Value::Object(_)) = serde_json::from_str::<serde_json::Value>(line)
    else {
        return line.to_owned();
    };
    let text = |pointer: &str| event.pointer(pointer).and_then(serde_json::Value::as_str);
    // Claude Code's message holds a list of parts: the last says what it is doing now.
    let last_part = event
        .pointer("/message/content")
        .and_then(serde_json::Value::as_array)
        .and_then(|parts| parts.last());
    let part = |key: &str| {
        last_part
            .and_then(|part| part.get(key))
            .and_then(serde_json::Value::as_str)
    };
    let tool = part("name")
        .or_else(|| text("/tool_name"))
        .or_else(|| text("/part/tool"))
        .or_else(|| text("/tool_calls/0/function/name"));
    let said = part("text")
        .or_else(|| text("/result"))
        .or_else(|| text("/item/text"))
        .or_else(|| text("/part/text"))
        .or_else(|| text("/content"));
    if let Some(command) = text("/item/command") {
        return format!("running `{command}`");
    }
    match (said, tool) {
        (Some(said), Some(tool)) => format!("{said} (using {tool})"),
        (Some(said), None) => said.to_owned(),
        (None, Some(tool)) => format!("using {tool}"),
        (None, None) => match text("/type") {
            Some(kind) => format!("({kind})"),
            None => line.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{readable, Activity};

    #[test]
    fn an_event_longer_than_the_tail_is_read_whole_and_secrets_are_hidden() {
        let activity = Activity::default();
        assert_eq!(activity.latest(), "");
        let long = format!(
            r#"{{"type":"assistant","message":{{"content":[{{"type":"text","text":"Reading list.rs"}},{{"type":"tool_use","name":"Read","input":{{"blob":"{}"}}}}]}}}}"#,
            "x".repeat(10_000)
        );
        activity.observe(long.as_bytes());
        assert_eq!(activity.latest(), "using Read");
        activity.observe(b"   \n");
        assert_eq!(
            activity.latest(),
            "using Read",
            "a blank line changes nothing"
        );
        activity.observe(b"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE");
        assert!(
            activity.latest().starts_with("[omk: line hidden"),
            "{}",
            activity.latest()
        );
    }

    #[test]
    fn an_agents_json_events_read_as_what_it_says_or_does() {
        let cases = [
            (
                r#"{"type":"assistant","message":{"content":[{"type":"text","text":"I'll add the flag."}]}}"#,
                "I'll add the flag.",
            ),
            (
                r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Editing."},{"type":"tool_use","name":"Edit","input":{}}]}}"#,
                "using Edit",
            ),
            (
                r#"{"type":"item.completed","item":{"id":"i1","type":"command_execution","command":"cargo test","exit_code":0}}"#,
                "running `cargo test`",
            ),
            (
                r#"{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"Done: --json added."}}"#,
                "Done: --json added.",
            ),
            (
                r#"{"type":"tool_use","tool_name":"write_file","tool_id":"t1"}"#,
                "using write_file",
            ),
            (
                r#"{"role":"assistant","content":"Let me look.","tool_calls":[{"type":"function","function":{"name":"ReadFile"}}]}"#,
                "Let me look. (using ReadFile)",
            ),
            (
                r#"{"type":"text","part":{"type":"text","text":"Editing list.rs now."}}"#,
                "Editing list.rs now.",
            ),
            (r#"{"type":"turn.started"}"#, "(turn.started)"),
            ("compiling crate 1 of 3", "compiling crate 1 of 3"),
            ("[1, 2]", "[1, 2]"),
        ];
        for (line, expected) in cases {
            assert_eq!(readable(line), expected, "{line}");
        }
    }
}
