//! The budget view (`omk goal budget`) and the result of a state-changing command.

use serde::Serialize;

use crate::event::{Phase, Timestamp};
use crate::log::chain::Head;
use crate::plan::documents::{format_duration, format_usd};
use crate::project::glance::{budget_glance, next_step, BudgetGlance};
use crate::project::show::plural;
use crate::state::{GoalState, GoalStatus};

/// `omk goal budget --format json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BudgetView<'a> {
    pub goal_id: &'a str,
    /// Returns the log head the view was derived from.
    pub head: Head,
    /// Returns the instant time is counted up to: the goal's last event (a fold has no clock).
    pub as_of: Timestamp,
    pub budget: BudgetGlance,
    /// Returns the limits reached: `time`, `tokens`, `usd`.
    pub exhausted: Vec<&'static str>,
}

/// Returns the budget of `state` at `head`.
pub fn budget_view(state: &GoalState, head: Head) -> BudgetView<'_> {
    BudgetView {
        goal_id: &state.goal_id,
        head,
        as_of: state.updated_at,
        budget: budget_glance(state),
        exhausted: state.budget.exhausted(state.updated_at),
    }
}

/// Returns the budget view as the text of `omk goal budget`.
pub fn budget_text(view: &BudgetView<'_>) -> String {
    let of = |used: String, limit: Option<String>| match limit {
        Some(limit) => format!("{used} of {limit}"),
        None => format!("{used} (no limit)"),
    };
    let budget = &view.budget;
    let mut text = format!(
        "{} budget as of {}\n  time    {}\n  tokens  {}\n  usd     {}\n",
        view.goal_id,
        view.as_of,
        of(
            format_duration(budget.time_secs.used),
            budget.time_secs.limit.map(format_duration)
        ),
        of(
            budget.tokens.used.to_string(),
            budget.tokens.limit.map(|limit| limit.to_string())
        ),
        of(
            format_usd(budget.usd_micros.used),
            budget.usd_micros.limit.map(format_usd)
        ),
    );
    if budget.reports_without_usd > 0 {
        text.push_str(&format!(
            "  note: {} did not say their cost; the spend is a lower bound\n",
            plural(budget.reports_without_usd, "usage report")
        ));
    }
    if !view.exhausted.is_empty() {
        text.push_str(&format!("  reached: {}\n", view.exhausted.join(", ")));
    }
    text
}

/// What a state-changing command prints with `--format json`: where the goal now stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CommandResult<'a> {
    pub goal_id: &'a str,
    /// Returns what the command did: `started`, `paused`, `resumed`, `cancelled`, `accepted`, …
    pub command: &'a str,
    pub status: GoalStatus,
    pub phase: Phase,
    /// Returns when the command's events were recorded.
    pub recorded_at: Timestamp,
    /// Returns the log head after the command.
    pub head: Head,
    pub next_step: String,
}

/// Returns the result of `command` on the goal now in `state` at `head`.
pub fn command_result<'a>(state: &'a GoalState, head: Head, command: &'a str) -> CommandResult<'a> {
    CommandResult {
        goal_id: &state.goal_id,
        command,
        status: state.status,
        phase: state.phase,
        recorded_at: state.updated_at,
        head,
        next_step: next_step(state),
    }
}
