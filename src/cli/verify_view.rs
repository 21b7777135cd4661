//! Verification on the terminal: its progress lines, shared by `verify` and the fix loop.
//!
//! Must not decide anything verification itself decides.

use crate::cli::context::{refused, store_failure};
use crate::cli::wave_view::{cut, heartbeat};
use crate::cli::{print_stderr, Failure, EXIT_FINDINGS};
use crate::event::GateName;
use crate::ops::verify::{VerifyError, VerifyProgress};
use crate::project::timeline::leftovers_clause;
use crate::state::verdict::short;
use crate::store::StoreError;

/// Prints verification's progress: a line per event, and on a terminal the running gate's
/// last output line redrawn in place.
pub(super) struct VerifyView {
    terminal: bool,
    heartbeat: u64,
    /// When each running gate last had a heartbeat line (off a terminal), in its seconds.
    last_beat: std::collections::BTreeMap<GateName, u64>,
}

impl VerifyView {
    pub(super) fn new(terminal: bool) -> VerifyView {
        VerifyView {
            terminal,
            heartbeat: heartbeat().as_secs(),
            last_beat: std::collections::BTreeMap::new(),
        }
    }

    pub(super) fn show(&mut self, event: &VerifyProgress) {
        match event {
            // On a terminal, one line redrawn in place: which gate, how long, its last line.
            VerifyProgress::GateRunning {
                gate,
                seconds,
                last_line,
            } if self.terminal => {
                // The gate's own text is shown, never obeyed: its escapes are made visible.
                let line: String = last_line.chars().take(80).collect();
                eprint!(
                    "\r\x1b[2K  {gate} running {seconds}s: {}",
                    super::visible(&line)
                );
            }
            // Elsewhere (a CI log), a heartbeat line every half minute.
            VerifyProgress::GateRunning {
                gate,
                seconds,
                last_line,
            } => {
                let last_beat = self.last_beat.entry(gate.clone()).or_insert(0);
                if *seconds >= *last_beat + self.heartbeat {
                    *last_beat = *seconds;
                    print_stderr(&format!(
                        "omk: gate {gate} running {seconds}s{}",
                        cut(last_line)
                    ));
                }
            }
            _ => {
                if let VerifyProgress::GateStarted { gate, .. } = event {
                    self.last_beat.remove(gate);
                }
                if self.terminal {
                    eprint!("\r\x1b[2K");
                }
                print_stderr(&progress_line(event));
            }
        }
    }
}

fn progress_line(event: &VerifyProgress) -> String {
    match event {
        VerifyProgress::GateSkipped { gate, when_changed } => format!(
            "omk: gate {gate} not needed: the goal changes nothing in {}",
            when_changed.join(", ")
        ),
        VerifyProgress::GateRunning { gate, seconds, .. } => {
            format!("omk: gate {gate} running {seconds}s")
        }
        VerifyProgress::Built { commit, merged } => format!(
            "omk: claimed tree {} (merged {})",
            short(commit),
            merged.join(", ")
        ),
        VerifyProgress::GateStarted { gate, baseline } => format!(
            "omk: gate {gate} started{}",
            if *baseline { " on the base commit" } else { "" }
        ),
        VerifyProgress::GateFinished {
            gate,
            baseline,
            reused_from: Some(seq),
            ..
        } => format!(
            "omk: gate {gate}{} passed: reused, it passed on this very tree at seq {seq}",
            if *baseline { " (base)" } else { "" },
        ),
        VerifyProgress::GateFinished {
            gate,
            baseline,
            passed,
            seconds,
            interrupted,
            leftovers_killed,
            last_line,
            reused_from: None,
        } => format!(
            "omk: gate {gate}{} {} in {seconds}s{}{}",
            if *baseline { " (base)" } else { "" },
            match (interrupted, passed) {
                (true, _) => "interrupted",
                (false, true) => "passed",
                (false, false) => "failed",
            },
            leftovers_clause(*leftovers_killed, 0),
            // A failure shows how it ended; the whole output is in the proof's artifact.
            match (passed, last_line.is_empty()) {
                (false, false) => format!(": {}", last_line.chars().take(160).collect::<String>()),
                _ => String::new(),
            }
        ),
    }
}

/// Returns the failure a verification error prints, with what to do about it.
pub(super) fn verify_failure(error: VerifyError) -> Failure {
    match error {
        VerifyError::Store(error) => match *error {
            StoreError::Refused(refusal) => refused(refusal),
            other => store_failure(other),
        },
        VerifyError::Conflict { .. } => Failure::with_code(error, Some("resolve it in a slice (re-run it with a narrower write set) or by hand on the result branch".to_owned()), EXIT_FINDINGS),
        other => Failure::from(other),
    }
}
