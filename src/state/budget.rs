//! The budget: limits, what has been used against them, and active time.
//!
//! Time counts only while the goal is live, from `run_started` or `goal_resumed` to the next
//! pause, hold or end, and up to the last event: a fold has no clock, so "now" is the log's last word.

use serde::{Deserialize, Serialize};

use crate::event::{BudgetLimits, Timestamp, UsageRecorded};

/// Limits and use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Returns the limits, extensions included.
    pub limits: BudgetLimits,
    /// Returns the input tokens reported.
    pub input_tokens: u64,
    /// Returns the output tokens reported.
    pub output_tokens: u64,
    /// Returns the spend reported, in millionths of a US dollar.
    pub usd_micros: u64,
    /// Returns how many usage reports did not say their token count.
    pub reports_without_tokens: u64,
    /// Returns how many usage reports did not say their cost.
    pub reports_without_usd: u64,
    /// Returns the active seconds of the intervals already closed.
    pub closed_active_secs: u64,
    /// Returns when the open active interval began, while the goal is live.
    pub active_since: Option<Timestamp>,
}

/// How one limit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitUse {
    /// Returns the amount used.
    pub used: u64,
    /// Returns the limit, if there is one.
    pub limit: Option<u64>,
}

impl LimitUse {
    /// Returns whether the limit is reached.
    pub fn exhausted(&self) -> bool {
        self.limit.is_some_and(|limit| self.used >= limit)
    }
}

impl Budget {
    /// Returns a budget with `limits`, nothing used, active from `started`.
    pub fn new(limits: BudgetLimits, started: Timestamp) -> Budget {
        Budget {
            limits,
            input_tokens: 0,
            output_tokens: 0,
            usd_micros: 0,
            reports_without_tokens: 0,
            reports_without_usd: 0,
            closed_active_secs: 0,
            active_since: Some(started),
        }
    }

    /// Adds a usage report.
    pub fn record(&mut self, usage: &UsageRecorded) {
        if usage.input_tokens.is_none() && usage.output_tokens.is_none() {
            self.reports_without_tokens += 1;
        }
        self.input_tokens = self
            .input_tokens
            .saturating_add(usage.input_tokens.unwrap_or(0));
        self.output_tokens = self
            .output_tokens
            .saturating_add(usage.output_tokens.unwrap_or(0));
        match usage.usd_micros {
            Some(micros) => self.usd_micros = self.usd_micros.saturating_add(micros),
            None => self.reports_without_usd += 1,
        }
    }

    /// Raises each limit by `added`; a limit that is `None` stays unlimited.
    pub fn extend(&mut self, added: &BudgetLimits) {
        let raise = |limit: &mut Option<u64>, by: Option<u64>| {
            if let (Some(limit), Some(by)) = (limit.as_mut(), by) {
                *limit = limit.saturating_add(by);
            }
        };
        raise(&mut self.limits.time_secs, added.time_secs);
        raise(&mut self.limits.tokens, added.tokens);
        raise(&mut self.limits.usd_micros, added.usd_micros);
    }

    /// Closes the open active interval at `at` (pause, hold, end).
    pub fn stop_clock(&mut self, at: Timestamp) {
        if let Some(since) = self.active_since.take() {
            self.closed_active_secs = self
                .closed_active_secs
                .saturating_add(since.seconds_until(at));
        }
    }

    /// Opens an active interval at `at` (resume), unless one is open.
    pub fn start_clock(&mut self, at: Timestamp) {
        self.active_since.get_or_insert(at);
    }

    /// Returns active time used up to `last_event`.
    pub fn time(&self, last_event: Timestamp) -> LimitUse {
        let open = self
            .active_since
            .map_or(0, |since| since.seconds_until(last_event));
        LimitUse {
            used: self.closed_active_secs.saturating_add(open),
            limit: self.limits.time_secs,
        }
    }

    /// Returns tokens used.
    pub fn tokens(&self) -> LimitUse {
        LimitUse {
            used: self.input_tokens.saturating_add(self.output_tokens),
            limit: self.limits.tokens,
        }
    }

    /// Returns spend used, in micro-USD.
    pub fn usd(&self) -> LimitUse {
        LimitUse {
            used: self.usd_micros,
            limit: self.limits.usd_micros,
        }
    }

    /// Returns the names of the limits reached by `last_event`.
    pub fn exhausted(&self, last_event: Timestamp) -> Vec<&'static str> {
        [
            ("time", self.time(last_event)),
            ("tokens", self.tokens()),
            ("usd", self.usd()),
        ]
        .into_iter()
        .filter(|(_, used)| used.exhausted())
        .map(|(name, _)| name)
        .collect()
    }
}
