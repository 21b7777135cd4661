//! Steering a goal by hand: pause, resume, cancel, raise the budget, accept, reject.
//!
//! Each is one operator event, appended only if the transition table allows it; a refusal
//! appends nothing. Must not print or choose exit codes.

use crate::event::{
    BudgetExtended, BudgetLimits, Decision, Event, GoalCancelled, GoalPaused, GoalResumed,
    IntegrationDecided, Phase,
};
use crate::shell::clock::Clock;
use crate::state::{Action, GoalStatus};
use crate::store::{GoalDir, Loaded, StoreError};

/// What the operator asks of a goal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Steering {
    Pause {
        reason: Option<String>,
    },
    Resume {
        note: Option<String>,
    },
    Cancel {
        reason: Option<String>,
    },
    ExtendBudget {
        added: BudgetLimits,
        reason: Option<String>,
    },
    Accept {
        summary: String,
    },
    Reject {
        reason: String,
    },
}

impl Steering {
    /// Returns the action the transition table must allow.
    pub fn action(&self) -> Action {
        match self {
            Steering::Pause { .. } => Action::Pause,
            Steering::Resume { .. } => Action::Resume,
            Steering::Cancel { .. } => Action::Cancel,
            Steering::ExtendBudget { .. } => Action::ExtendBudget,
            Steering::Accept { .. } => Action::Accept,
            Steering::Reject { .. } => Action::Reject,
        }
    }

    /// Returns what was done, as a past participle: `paused`, `accepted`, ….
    pub fn done(&self) -> &'static str {
        match self {
            Steering::Pause { .. } => "paused",
            Steering::Resume { .. } => "resumed",
            Steering::Cancel { .. } => "cancelled",
            Steering::ExtendBudget { .. } => "extended the budget of",
            Steering::Accept { .. } => "accepted",
            Steering::Reject { .. } => "rejected",
        }
    }

    fn event(&self) -> Event {
        match self.clone() {
            Steering::Pause { reason } => Event::GoalPaused(GoalPaused { reason }),
            Steering::Resume { note } => Event::GoalResumed(GoalResumed { note }),
            Steering::Cancel { reason } => Event::GoalCancelled(GoalCancelled { reason }),
            Steering::ExtendBudget { added, reason } => {
                Event::BudgetExtended(BudgetExtended { added, reason })
            }
            Steering::Accept { summary } => Event::IntegrationDecided(IntegrationDecided {
                decision: Decision::Accepted,
                note: summary,
            }),
            Steering::Reject { reason } => Event::IntegrationDecided(IntegrationDecided {
                decision: Decision::Rejected,
                note: reason,
            }),
        }
    }
}

/// A steered goal, and where it stood before.
#[derive(Debug)]
pub struct Steered {
    pub loaded: Loaded,
    pub was: (GoalStatus, Phase),
}

/// Appends the operator event of `steering`, if the transition table allows it.
pub fn steer(goal: &GoalDir, clock: &Clock, steering: &Steering) -> Result<Steered, StoreError> {
    let mut was = None;
    let action = steering.action();
    let event = steering.event();
    let (loaded, _) = goal.transact(clock.now(), |state| {
        was = Some((state.status, state.phase));
        state.check(action)?;
        Ok(vec![event.clone()])
    })?;
    let was = was.unwrap_or((loaded.state.status, loaded.state.phase));
    Ok(Steered { loaded, was })
}
