//! The glance: what `omk goal status` and `omk goal list` show of a goal.
//!
//! JSON carries timestamps, never ages, so the same log always gives the same bytes; the
//! text form shows ages against a `now` the shell passes in.

use serde::Serialize;

use crate::event::{Phase, TaskStatus, Timestamp};
use crate::log::chain::Head;
use crate::plan::documents::{format_duration, format_usd};
use crate::plan::rounds::round_for;
use crate::state::commands::LoopMove;
use crate::state::verdict::{short, verdict_before_acceptance};
use crate::state::{GoalState, GoalStatus, LimitUse};

/// A limit and how much of it is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Usage {
    /// Returns the amount used.
    pub used: u64,
    /// Returns the limit; `null` means none.
    pub limit: Option<u64>,
}

impl From<LimitUse> for Usage {
    fn from(use_: LimitUse) -> Usage {
        Usage {
            used: use_.used,
            limit: use_.limit,
        }
    }
}

/// The budget at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BudgetGlance {
    /// Returns active seconds used (up to the last event) against the limit.
    pub time_secs: Usage,
    /// Returns tokens used against the limit.
    pub tokens: Usage,
    /// Returns micro-USD used against the limit.
    pub usd_micros: Usage,
    /// Returns how many usage reports did not say their cost: the spend is a lower bound.
    pub reports_without_usd: u64,
}

/// One goal at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Glance<'a> {
    pub goal_id: &'a str,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub status: GoalStatus,
    /// Returns the phase the goal is in, or was in when it stopped.
    pub phase: Phase,
    pub tasks_done: usize,
    pub tasks_total: usize,
    pub budget: BudgetGlance,
    /// Returns what to do next, as a command or a sentence.
    pub next_step: String,
    /// Returns the log head the glance was derived from.
    pub head: Head,
}

/// `omk goal list --format json`: every goal at a glance, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GoalList<'a> {
    pub goals: Vec<Glance<'a>>,
}

/// Returns the budget of `state` at a glance.
pub fn budget_glance(state: &GoalState) -> BudgetGlance {
    BudgetGlance {
        time_secs: state.budget.time(state.updated_at).into(),
        tokens: state.budget.tokens().into(),
        usd_micros: state.budget.usd().into(),
        reports_without_usd: state.budget.reports_without_usd,
    }
}

/// Returns `state` at a glance, derived at `head`.
pub fn glance(state: &GoalState, head: Head) -> Glance<'_> {
    let (tasks_done, tasks_total) = state.tasks.progress();
    Glance {
        goal_id: &state.goal_id,
        started_at: state.started_at,
        updated_at: state.updated_at,
        status: state.status,
        phase: state.phase,
        tasks_done,
        tasks_total,
        budget: budget_glance(state),
        next_step: next_step(state),
        head,
    }
}

/// Returns what the operator should do next with the goal.
pub fn next_step(state: &GoalState) -> String {
    let id = &state.goal_id;
    let reason = state
        .outcome
        .as_ref()
        .map_or("", |outcome| outcome.reason.as_str());
    match state.status {
        GoalStatus::Intake => format!("intake was interrupted before planning: start again with `omk goal run` (then `omk goal cancel {id}`)"),
        GoalStatus::Planning if state.plan.is_none() => format!("planning was interrupted: start again with `omk goal run` (then `omk goal cancel {id}`)"),
        GoalStatus::Planning => format!("omk goal execute {id}"),
        GoalStatus::Executing | GoalStatus::Verifying | GoalStatus::Reviewing => loop_step(state),
        GoalStatus::Integrating => format!("omk goal accept {id} --summary '…'  or  omk goal reject {id} --reason '…'"),
        GoalStatus::Paused => format!("omk goal resume {id}"),
        GoalStatus::NeedsMoreBudget => format!("omk goal budget-add {id} --time 1h (or --tokens/--usd), then omk goal resume {id}"),
        GoalStatus::BlockedOnHuman if state.phase >= Phase::Executing => {
            let decisions = state
                .outcome
                .as_ref()
                .map(|outcome| outcome.decisions_required.join("; "))
                .unwrap_or_default();
            format!("decide: {decisions}")
        }
        GoalStatus::BlockedOnHuman => {
            let decisions = state
                .outcome
                .as_ref()
                .map(|outcome| outcome.decisions_required.join("; "))
                .unwrap_or_default();
            format!("decide: {decisions}; then start a new goal whose prompt carries the decision")
        }
        GoalStatus::BlockedOnExternal => format!("resolve: {reason}; then omk goal resume {id}"),
        GoalStatus::FailedInfra => format!("fix the failure ({reason}), then omk goal resume {id}"),
        GoalStatus::Ready => match &state.landed {
            None => format!("omk goal land {id}  (puts the result on your branch)"),
            Some(landed) => format!(
                "nothing: the goal landed on {} at {}",
                landed.into,
                crate::state::verdict::short(&landed.commit)
            ),
        },
        GoalStatus::NotReady => format!("nothing in this goal ({reason}); start a new goal for another attempt"),
        GoalStatus::Cancelled => "nothing: the goal was cancelled".to_owned(),
    }
}

/// Returns the next step of a goal in a working phase: the fix loop's next move, as the one
/// command that makes it.
fn loop_step(state: &GoalState) -> String {
    let id = &state.goal_id;
    let first_blocker = || {
        verdict_before_acceptance(state)
            .blockers
            .into_iter()
            .next()
            .map_or(String::new(), |blocker| format!("{}: ", blocker.detail))
    };
    match state.next_move() {
        LoopMove::Execute => format!("omk goal execute {id}"),
        LoopMove::Verify if state.phase == Phase::Executing => format!("omk goal verify {id}"),
        LoopMove::Verify => format!("{}omk goal verify {id}", first_blocker()),
        LoopMove::Review => format!("omk goal review {id}"),
        LoopMove::Round { cause, candidates } => {
            let round = round_for(state, cause, &candidates);
            format!(
                "{}: omk goal continue {id} (a fix round hands {} what failed)",
                round.reason,
                round.tasks.join(", ")
            )
        }
        LoopMove::Integrate => {
            format!("omk goal accept {id} --summary '…'  or  omk goal reject {id} --reason '…'")
        }
        LoopMove::Stop => format!(
            "{}nothing more runs unattended: see `omk goal show {id}`",
            first_blocker()
        ),
    }
}

/// Returns the status and phase in words: `executing`, `paused (in executing)`, `planning (plan ready)`.
pub fn status_words(state: &GoalState) -> String {
    match state.status {
        GoalStatus::Planning if state.plan.is_some() => "planned".to_owned(),
        status if status.is_live() => status.name().to_owned(),
        status => format!("{status} (in {})", state.phase.name()),
    }
}

/// Returns the budget in words: `time 12m/2h · tokens 1200 · $0.42/$5.00`.
pub fn budget_words(budget: &BudgetGlance) -> String {
    let limit = |limit: Option<u64>, format: &dyn Fn(u64) -> String| {
        limit
            .map(|limit| format!("/{}", format(limit)))
            .unwrap_or_default()
    };
    let tokens = |count: u64| count.to_string();
    let unknown = if budget.reports_without_usd > 0 {
        "+?"
    } else {
        ""
    };
    format!(
        "time {}{} · tokens {}{} · {}{unknown}{}",
        format_duration(budget.time_secs.used),
        limit(budget.time_secs.limit, &format_duration),
        budget.tokens.used,
        limit(budget.tokens.limit, &tokens),
        format_usd(budget.usd_micros.used),
        limit(budget.usd_micros.limit, &format_usd),
    )
}

/// Returns how long ago `then` was, as of `now`: `just now`, `5m ago`, `3h ago`, `2d ago`.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = then.seconds_until(now);
    match secs {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// Returns the glance as the text of `omk goal status`.
pub fn status_text(glance: &Glance<'_>, state: &GoalState, now: Timestamp) -> String {
    let failures: String = failures(state)
        .iter()
        .map(|failure| format!("  failed: {failure}\n"))
        .collect();
    let rounds = match state.rounds.len() {
        0 => String::new(),
        count => format!(" · fix round {count}"),
    };
    format!(
        "{}  {}{rounds}  updated {}\n  tasks {}/{} done · {}\n{failures}  next: {}\n",
        glance.goal_id,
        status_words(state),
        age(glance.updated_at, now),
        glance.tasks_done,
        glance.tasks_total,
        budget_words(&glance.budget),
        glance.next_step,
    )
}

/// Returns what failed, one line each with the reason inline: every slice that failed or is
/// blocked, and every required gate that failed on the claimed tree, with its last output line.
pub fn failures(state: &GoalState) -> Vec<String> {
    let last_line = |lines: &str| {
        lines
            .lines()
            .last()
            .map_or(String::new(), |line| format!(" ({})", line.trim()))
    };
    let slices = state
        .tasks
        .tasks()
        .iter()
        .filter(|task| matches!(task.status, TaskStatus::Failed | TaskStatus::Blocked))
        .map(|task| {
            format!(
                "{} is {}: {}",
                task.spec.id,
                task.status.name(),
                task.last_failure.as_deref().unwrap_or("no reason recorded")
            )
        });
    let commit = state.result.as_ref().map(|result| result.commit.as_str());
    let gates = crate::state::verdict::latest_gate_runs(state)
        .into_iter()
        .map(|record| &record.run)
        .filter(|run| run.required && !run.passed() && Some(run.target.commit.as_str()) == commit)
        .map(|run| {
            format!(
                "gate {} on {}{}; output: omk artifact show {}",
                run.gate,
                short(&run.target.commit),
                last_line(&run.last_lines),
                &run.output.to_hex()[..12]
            )
        });
    slices.chain(gates).collect()
}

/// One goal as `omk goal list` shows it.
pub struct ListRow<'a> {
    /// The shortest name that selects the goal alone (see `store::short_ids`).
    pub short_id: &'a str,
    pub glance: Glance<'a>,
    pub state: &'a GoalState,
}

/// Returns whether a goal needs nothing more from anyone: cancelled, or its result landed.
/// `omk goal list` leaves such goals out unless asked for `--all`.
pub fn is_settled(state: &GoalState) -> bool {
    state.status == GoalStatus::Cancelled || state.landed.is_some()
}

/// Returns the rows of `omk goal list` as an aligned table: short id, status, tasks done,
/// age and the prompt's first line, the prompt cut so that each line fits `width` columns
/// when there is a width.
pub fn list_text(rows: &[ListRow<'_>], now: Timestamp, width: Option<usize>) -> String {
    let mut lines = vec![[
        "ID".to_owned(),
        "STATUS".to_owned(),
        "TASKS".to_owned(),
        "AGE".to_owned(),
        "PROMPT".to_owned(),
    ]];
    for row in rows {
        let status = match (&row.state.landed, row.state.status) {
            (Some(_), status) => format!("{status} (landed)"),
            (None, GoalStatus::Planning) if row.state.plan.is_some() => "planned".to_owned(),
            (None, status) => status.to_string(),
        };
        lines.push([
            row.short_id.to_owned(),
            status,
            format!("{}/{}", row.glance.tasks_done, row.glance.tasks_total),
            age(row.glance.started_at, now),
            // A control character in a prompt would count as a column and print as several.
            row.state
                .prompt
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect(),
        ]);
    }
    let mut widths = [0; 5];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // Only the prompt is cut to fit, never the id or the status; at least a few of its
    // columns stay, even on a terminal too narrow for the rest.
    let before_prompt: usize = widths[..4].iter().map(|width| width + 2).sum();
    let prompt_width = width.map(|width| width.saturating_sub(before_prompt).max(12));
    let mut out = String::new();
    for line in &lines {
        let mut text = String::new();
        for (cell, cell_width) in line[..4].iter().zip(widths) {
            text.push_str(&format!("{cell:<cell_width$}  "));
        }
        text.push_str(&fit(&line[4], prompt_width));
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// Returns `text` cut to `width` terminal columns, ending in `…` when cut.
fn fit(text: &str, width: Option<usize>) -> String {
    let Some(width) = width.filter(|width| columns(text) > *width) else {
        return text.to_owned();
    };
    let mut kept = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + char_columns(c) > width.saturating_sub(1) {
            break;
        }
        used += char_columns(c);
        kept.push(c);
    }
    kept.push('…');
    kept
}

/// Returns how many terminal columns `text` takes.
fn columns(text: &str) -> usize {
    text.chars().map(char_columns).sum()
}

/// Returns the columns a character takes: two for the wide scripts of East Asia and for
/// emoji, one otherwise (a table of the common blocks, not all of Unicode's width rules).
fn char_columns(c: char) -> usize {
    let wide = matches!(
        u32::from(c),
        0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x1F900..=0x1F9FF
            | 0x20000..=0x3FFFD
    );
    if wide {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod width_tests {
    use super::{columns, fit};

    #[test]
    fn text_is_cut_by_terminal_columns_not_characters() {
        assert_eq!(fit("Fix the parser", Some(20)), "Fix the parser");
        assert_eq!(fit("Fix the parser crash", Some(10)), "Fix the p…");
        // Each of these takes two columns: five of them fill ten.
        let japanese = "リストコマンドにフラグを追加";
        let cut = fit(japanese, Some(10));
        assert_eq!(cut, "リストコ…");
        assert!(columns(&cut) <= 10);
        assert_eq!(fit("abc", None), "abc");
    }
}
