//! The full state of a goal, as `omk goal show` prints it: JSON, text or Markdown.

use std::fmt::Write;

use serde::Serialize;

use crate::event::TaskStatus;
use crate::log::chain::Head;
use crate::plan::documents::{format_usd, label};
use crate::project::glance::{budget_glance, budget_words, next_step, status_words};
use crate::state::GoalState;

/// `omk goal show --format json`: the state and the head it was derived from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ShowView<'a> {
    /// Returns the log head the view was derived from.
    pub head: Head,
    /// Returns what to do next.
    pub next_step: String,
    /// Returns the folded state.
    pub state: &'a GoalState,
}

/// Returns the JSON view of `state` at `head`.
pub fn show_view(state: &GoalState, head: Head) -> ShowView<'_> {
    ShowView {
        head,
        next_step: next_step(state),
        state,
    }
}

/// Returns the full state as Markdown (`markdown`) or as plain text.
pub fn show_document(state: &GoalState, head: Head, markdown: bool) -> String {
    let heading = |level: usize, text: &str| {
        if markdown {
            format!("{} {text}\n\n", "#".repeat(level))
        } else {
            // Underlined, not upper-cased: the goal id in the first heading must read as it
            // is typed, so that it can be copied into the next command.
            let rule = if level == 1 { "=" } else { "-" };
            format!("{text}\n{}\n\n", rule.repeat(text.chars().count()))
        }
    };
    let code = |text: &str| {
        if markdown {
            format!("`{text}`")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    out.push_str(&heading(1, &format!("Goal {}", state.goal_id)));
    for line in state.prompt.lines() {
        let _ = writeln!(out, "> {line}");
    }
    out.push('\n');
    let _ = writeln!(out, "- Status: {}", status_words(state));
    if let Some(outcome) = &state.outcome {
        let _ = writeln!(out, "- Why: {}", outcome.reason);
        for decision in &outcome.decisions_required {
            let _ = writeln!(out, "- Decision required: {decision}");
        }
    }
    let _ = writeln!(out, "- Next: {}", code(&next_step(state)));
    let _ = writeln!(
        out,
        "- Started: {} · last event: {} (seq {}, {})",
        state.started_at,
        state.updated_at,
        head.seq,
        code(&head.hash.to_hex())
    );
    let _ = writeln!(
        out,
        "- Base commit: {}",
        state.base_commit.as_deref().map_or("none".to_owned(), code)
    );
    let _ = writeln!(
        out,
        "- omk {} · agent: {} · planner: {}",
        state.omk_version,
        state.options.agent.as_deref().unwrap_or("none"),
        state.options.planner.as_deref().unwrap_or("built-in")
    );
    let _ = writeln!(out, "- Budget: {}", budget_words(&budget_glance(state)));
    if state.budget.reports_without_usd > 0 {
        let _ = writeln!(
            out,
            "- Spend is a lower bound: {} did not say their cost (known: {})",
            plural(state.budget.reports_without_usd, "usage report"),
            format_usd(state.budget.usd_micros)
        );
    }
    out.push('\n');
    if let Some(oracle) = &state.oracle {
        out.push_str(&heading(2, "Oracle guard"));
        let verdict = if oracle.testable {
            "testable without a human decision"
        } else {
            "needs a human decision"
        };
        let _ = writeln!(out, "{verdict}.");
        for signal in &oracle.signals {
            let _ = writeln!(out, "- {}: {}", signal.category, code(&signal.phrase));
        }
        out.push('\n');
    }
    if let Some(plan) = &state.plan {
        out.push_str(&heading(2, "Plan"));
        let _ = writeln!(out, "Decomposed by: {}.", label(&plan.source));
        if let Some(fallback) = &plan.fallback {
            let _ = writeln!(
                out,
                "The planner {} failed ({}); the built-in decomposition was used.",
                code(&fallback.planner),
                fallback.reason
            );
        }
        out.push('\n');
    }
    out.push_str(&heading(
        2,
        &format!(
            "Tasks ({}/{} done)",
            state.tasks.progress().0,
            state.tasks.progress().1
        ),
    ));
    for task in state.tasks.tasks() {
        let _ = writeln!(
            out,
            "- {} [{}] {} ({}, risk {}, retries {}/{})",
            code(&task.spec.id),
            task.status.name(),
            task.spec.title,
            task.spec.owner_role,
            label(&task.spec.risk),
            task.retries,
            task.spec.max_retries
        );
        if !task.spec.depends_on.is_empty() {
            let _ = writeln!(out, "  - after: {}", task.spec.depends_on.join(", "));
        }
        if !task.spec.write_set.is_empty() {
            let _ = writeln!(out, "  - writes: {}", task.spec.write_set.join(", "));
        }
        if let Some(lease) = &task.lease {
            let _ = writeln!(
                out,
                "  - leased by {} until {}",
                lease.holder, lease.expires_at
            );
        }
        if task.round > 0 {
            let _ = writeln!(out, "  - reopened in fix round {}", task.round);
        }
        if let Some(failure) = task
            .last_failure
            .as_deref()
            .filter(|_| task.status != TaskStatus::Done)
        {
            let _ = writeln!(out, "  - last failure: {failure}");
            let printed = task
                .runs
                .last()
                .and_then(|run| run.finished.as_ref())
                .map_or("", |finished| finished.last_lines.as_str());
            for line in printed.lines() {
                let _ = writeln!(out, "    > {line}");
            }
        }
        for evidence in &task.evidence {
            let artifact = evidence
                .artifact
                .map(|hash| format!(" ({})", code(&hash.to_hex())))
                .unwrap_or_default();
            let _ = writeln!(out, "  - evidence: {}{artifact}", evidence.summary);
        }
    }
    if state.tasks.tasks().is_empty() {
        let _ = writeln!(out, "No tasks yet.");
    }
    if !state.rounds.is_empty() {
        out.push('\n');
        out.push_str(&heading(2, "Fix rounds"));
        for record in &state.rounds {
            let round = &record.started;
            let _ = writeln!(
                out,
                "- Round {} ({}, {}): {}; reopened {}",
                round.round,
                round.cause.name(),
                record.at,
                round.reason,
                round.tasks.join(", ")
            );
        }
    }
    out.push('\n');
    out.push_str(&heading(2, "Artifacts"));
    for recorded in &state.artifacts {
        let artifact = &recorded.artifact;
        let _ = writeln!(
            out,
            "- {} ({} bytes, {}) {}",
            artifact.name,
            artifact.size,
            artifact.media_type,
            code(&artifact.hash.to_hex())
        );
    }
    if state.artifacts.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        let _ = writeln!(
            out,
            "\nPrint one with {} (the first 8 digits do).",
            code("omk artifact show <hash>")
        );
    }
    if let Some(integration) = &state.integration {
        out.push('\n');
        out.push_str(&heading(2, "Integration"));
        let _ = writeln!(
            out,
            "{}: {}",
            label(&integration.decision),
            integration.note
        );
    }
    if let Some(landed) = &state.landed {
        out.push('\n');
        out.push_str(&heading(2, "Landed"));
        let _ = writeln!(out, "{}", crate::project::proof::landed_sentence(landed));
    }
    out
}

/// Returns a size for people: `512 bytes`, `42.0 KB`, `1.5 MB`, `2.3 GB` (powers of 1000).
pub fn size_in_words(bytes: u64) -> String {
    let value = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} KB", value / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", value / 1e6),
        _ => format!("{:.1} GB", value / 1e9),
    }
}

/// Returns `1 usage report`, `2 usage reports`, `3 branches`.
pub fn plural(count: u64, noun: &str) -> String {
    match count {
        1 => format!("{count} {noun}"),
        _ if noun.ends_with(['s', 'x']) || noun.ends_with("ch") || noun.ends_with("sh") => {
            format!("{count} {noun}es")
        }
        _ => format!("{count} {noun}s"),
    }
}
