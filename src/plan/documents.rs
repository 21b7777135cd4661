//! The planning documents: goal brief, technical plan, test spec and planned task graph.
//!
//! Pure renderings of the plan; the shell stores them as artifacts and records each with
//! `artifact_recorded`, and the copies beside the log are projections of those artifacts.

use std::fmt::Write;

use crate::event::{BudgetLimits, OracleChecked, TaskSpec};
use crate::plan::relevance::RelevantFile;

/// A document ready to store: its name, media type and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Returns the artifact name, which is also the file name of its copy beside the log.
    pub name: &'static str,
    /// Returns the media type.
    pub media_type: &'static str,
    /// Returns the text.
    pub text: String,
}

/// What the documents are rendered from.
#[derive(Clone, Copy, Debug)]
pub struct PlanFacts<'a> {
    pub goal_id: &'a str,
    pub prompt: &'a str,
    pub base_commit: Option<&'a str>,
    pub budget: &'a BudgetLimits,
    pub oracle: &'a OracleChecked,
    pub relevant: &'a [RelevantFile],
    pub tasks: &'a [TaskSpec],
}

/// Returns the four planning documents, in the order they are recorded.
pub fn documents(facts: &PlanFacts<'_>) -> Vec<Document> {
    vec![
        Document {
            name: "prd.md",
            media_type: "text/markdown",
            text: brief(facts),
        },
        Document {
            name: "technical-plan.md",
            media_type: "text/markdown",
            text: technical_plan(facts),
        },
        Document {
            name: "test-spec.md",
            media_type: "text/markdown",
            text: test_spec(facts),
        },
        Document {
            name: "planned-task-graph.json",
            media_type: "application/json",
            text: planned_graph(facts),
        },
    ]
}

fn brief(facts: &PlanFacts<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Goal brief: {}\n", facts.goal_id);
    let _ = writeln!(out, "## What is asked\n\n{}\n", quote(facts.prompt));
    let _ = writeln!(out, "## Starting point\n");
    let _ = writeln!(
        out,
        "- Base commit: {}",
        facts.base_commit.unwrap_or("none (not a git repository)")
    );
    let _ = writeln!(out, "- Budget: {}\n", budget_line(facts.budget));
    let _ = writeln!(out, "## How success is observed\n");
    let observable: Vec<&str> = facts
        .oracle
        .signals
        .iter()
        .filter(|signal| matches!(signal.category.as_str(), "observable" | "code" | "change"))
        .map(|signal| signal.phrase.as_str())
        .collect();
    if observable.is_empty() {
        let _ = writeln!(out, "No observable outcome was named.");
    } else {
        let _ = writeln!(out, "The prompt names: {}.", observable.join(", "));
    }
    let _ = writeln!(
        out,
        "Every slice must leave a test that shows its change, and every required gate must pass on the goal's claimed tree.\n"
    );
    let _ = writeln!(out, "## Deliverables\n");
    for task in facts
        .tasks
        .iter()
        .filter(|task| task.owner_role == "implementer")
    {
        let _ = writeln!(out, "- `{}`: {}", task.id, task.description);
    }
    let _ = writeln!(out, "\n## Out of scope\n\nAnything the deliverables above do not name; files outside each slice's write set.");
    out
}

fn technical_plan(facts: &PlanFacts<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Technical plan: {}\n", facts.goal_id);
    let _ = writeln!(out, "## Relevant files\n");
    if facts.relevant.is_empty() {
        let _ = writeln!(
            out,
            "The scan found no tracked file matching the goal's keywords."
        );
    } else {
        let _ = writeln!(out, "| file | score | matched |\n|---|---:|---|");
        for file in facts.relevant {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                file.path,
                file.score,
                file.keywords.join(", ")
            );
        }
    }
    let _ = writeln!(out, "\n## Tasks\n");
    for task in facts.tasks {
        let _ = writeln!(out, "### `{}`: {}\n", task.id, task.title);
        let _ = writeln!(
            out,
            "- Kind: {}; owner: {}; risk: {}; retries: {}",
            label(&task.kind),
            task.owner_role,
            label(&task.risk),
            task.max_retries
        );
        let _ = writeln!(out, "- Depends on: {}", list_or_none(&task.depends_on));
        let _ = writeln!(out, "- Writes: {}", list_or_none(&task.write_set));
        let _ = writeln!(out, "- Reads: {}\n", list_or_none(&task.read_set));
    }
    out
}

fn test_spec(facts: &PlanFacts<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Test spec: {}\n", facts.goal_id);
    let _ = writeln!(
        out,
        "The goal is ready only when every criterion below has evidence in the log.\n"
    );
    for task in facts.tasks {
        let _ = writeln!(out, "## `{}`\n", task.id);
        for criterion in &task.acceptance {
            let _ = writeln!(out, "- [ ] {criterion}");
        }
        let _ = writeln!(out);
    }
    out
}

fn planned_graph(facts: &PlanFacts<'_>) -> String {
    let graph = serde_json::json!({ "goal_id": facts.goal_id, "tasks": facts.tasks });
    let mut text = serde_json::to_string_pretty(&graph).unwrap_or_default();
    text.push('\n');
    text
}

fn quote(text: &str) -> String {
    text.lines()
        .map(|line| format!("> {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn list_or_none(items: &[impl std::fmt::Display]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(|item| format!("`{item}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Returns the stored (snake_case) name of a unit enum value, as JSON spells it.
pub fn label<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Returns the limits in words, e.g. `2h, 100000 tokens, $5.00`.
pub fn budget_line(limits: &BudgetLimits) -> String {
    let mut parts = Vec::new();
    if let Some(secs) = limits.time_secs {
        parts.push(format_duration(secs));
    }
    if let Some(tokens) = limits.tokens {
        parts.push(format!("{tokens} tokens"));
    }
    if let Some(micros) = limits.usd_micros {
        parts.push(format_usd(micros));
    }
    if parts.is_empty() {
        "no limits".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Returns seconds as `1h30m`, `45m`, `20s`.
pub fn format_duration(secs: u64) -> String {
    let (hours, minutes, seconds) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut text = String::new();
    if hours > 0 {
        let _ = write!(text, "{hours}h");
    }
    if minutes > 0 {
        let _ = write!(text, "{minutes}m");
    }
    if seconds > 0 || text.is_empty() {
        let _ = write!(text, "{seconds}s");
    }
    text
}

/// Returns micro-dollars as `$1.23` (cents, rounded down; `$0.0042` below a cent).
pub fn format_usd(micros: u64) -> String {
    if micros > 0 && micros < 10_000 {
        format!("${}.{:04}", micros / 1_000_000, micros / 100)
    } else {
        format!("${}.{:02}", micros / 1_000_000, micros % 1_000_000 / 10_000)
    }
}
