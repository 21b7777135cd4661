//! The proof document: the verdict and every piece of evidence behind it, derived from the
//! log alone and naming the exact head it speaks for.
//!
//! Three renderings of one value: JSON (`proof.json`, written beside the log), Markdown for
//! people, and an in-toto Statement v1 whose subjects are the claimed commit and tree and
//! whose predicate is the proof. Gate output is never embedded: it is referenced by hash.

use std::fmt::Write;

use serde::Serialize;

use crate::event::{
    Evidence, GoalLanded, ReviewFinding, RoundCause, TaskId, TaskStatus, Timestamp,
};
use crate::log::chain::Head;
use crate::log::merkle::TreeHead;
use crate::plan::documents::label;
use crate::project::derived::DerivedBy;
use crate::project::glance::{budget_glance, BudgetGlance};
use crate::project::show::plural;
use crate::state::verdict::{latest_gate_runs, short, verdict, Verdict};
use crate::state::{GateRecord, GoalState, GoalStatus};

/// Returns where and how a goal landed, in a sentence for the proof and show: names quoted
/// as code.
pub fn landed_sentence(landed: &GoalLanded) -> String {
    let words = landed_words(landed, |name| format!("`{name}`"));
    format!("On {words}.")
}

/// Returns where and how a goal landed, without a verb: `main at 6f451c7b1a19 (squash onto
/// 058798a63f8a); its tree is the claimed tree`, each name passed through `quote`.
pub fn landed_words(landed: &GoalLanded, quote: impl Fn(&str) -> String) -> String {
    format!(
        "{} at {} ({} onto {}){}",
        quote(&landed.into),
        quote(short(&landed.commit)),
        landed.method.name().replace('_', "-"),
        quote(short(&landed.onto)),
        if landed.reverified {
            "; the branch had moved since the base, so the required gates ran again on the landed tree and passed"
        } else {
            "; its tree is the claimed tree"
        }
    )
}

/// The proof's format version: bumped whenever the proof of a given log changes its bytes.
/// 3: the log's Merkle tree head; 2: a known gap counts one usage report in the singular.
pub const PROOF_FORMAT: u32 = 3;

/// What the proof says when nothing blocks the verdict.
pub const ALL_CLEAR: &str = "Every required gate passed on the claimed tree, every required task is done, the review passed, and the integrator accepted.";

/// The in-toto statement type: Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The in-toto predicate type of an omk proof.
pub const PREDICATE_TYPE: &str = "https://omk.dev/attestation/proof/v1";

/// The proof of one goal at one head.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Proof<'a> {
    /// Returns the log head the proof speaks for.
    pub head: Head,
    /// The size and root of the log's Merkle tree through that head: what a signed head, an
    /// inclusion proof or `omk verify-proof` checks against.
    pub tree: TreeHead,
    /// The omk that derived the proof, and the proof's format version.
    pub derived_by: DerivedBy,
    pub goal_id: &'a str,
    pub prompt: &'a str,
    pub base_commit: Option<&'a str>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub status: GoalStatus,
    pub verdict: Verdict,
    /// Returns the claimed tree: the result branch, commit and tree, and the slices merged.
    pub claimed: Option<Claimed<'a>>,
    pub tasks: Vec<TaskProof<'a>>,
    /// Returns the fix rounds, oldest first.
    pub rounds: Vec<RoundProof<'a>>,
    pub gates: Vec<GateProof<'a>>,
    pub review: Option<ReviewProof<'a>>,
    /// Returns the integrator's decision: `accepted` or `rejected`, with the note.
    pub integration: Option<(String, &'a str)>,
    /// Where `omk goal land` put the result, once it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landed: Option<&'a GoalLanded>,
    /// Returns what the evidence does not cover.
    pub known_gaps: Vec<String>,
    pub decisions_required: Vec<&'a str>,
    pub budget: BudgetGlance,
}

/// The tree the goal claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Claimed<'a> {
    pub branch: &'a str,
    pub commit: &'a str,
    pub tree: &'a str,
    pub merged: &'a [TaskId],
}

/// A task and its evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TaskProof<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub status: TaskStatus,
    pub required: bool,
    pub branch: Option<&'a str>,
    pub commits: Vec<&'a str>,
    pub changed_files: Vec<&'a str>,
    pub outside_write_set: Vec<&'a str>,
    pub agent_runs: usize,
    pub evidence: &'a [Evidence],
    /// Returns what the agent said it did: a claim, not evidence.
    pub claim: Option<&'a str>,
    /// Returns why its last attempt failed, while it is not done.
    pub failure: Option<&'a str>,
    /// Returns the last lines its last agent printed, when that run failed (secrets masked).
    pub last_lines: &'a str,
}

/// A fix round: why, and which slices it reopened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RoundProof<'a> {
    pub round: u32,
    pub cause: RoundCause,
    pub reason: &'a str,
    pub tasks: &'a [TaskId],
    pub started_at: Timestamp,
    /// Returns the `seq` of its `round_started` event.
    pub seq: u64,
}

/// A gate's run on an earlier claimed tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GateAttempt<'a> {
    pub commit: &'a str,
    /// Returns `passed` or `failed`.
    pub outcome: &'static str,
    pub output: String,
}

/// A gate's latest result on the claimed tree, next to its baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GateProof<'a> {
    pub gate: &'a str,
    pub command: &'a str,
    pub required: bool,
    /// Returns `passed` or `failed` on the base commit, if the baseline ran.
    pub base: Option<&'static str>,
    /// Returns `passed` or `failed` on the commit below.
    pub head: &'static str,
    pub commit: &'a str,
    pub tree: &'a str,
    pub dirty: bool,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Returns the hash of the output artifact.
    pub output: String,
    /// Returns the last lines of its output when it failed (secrets masked).
    pub last_lines: &'a str,
    /// Returns its runs on the goal's earlier claimed trees, oldest first: red before green.
    pub earlier: Vec<GateAttempt<'a>>,
    /// The `seq` of the pass on this same tree that this run reuses (it did not run again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<u64>,
}

/// The review's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReviewProof<'a> {
    pub commit: &'a str,
    pub passed: bool,
    pub files_reviewed: u64,
    pub findings: &'a [ReviewFinding],
    pub findings_artifact: String,
}

fn outcome(passed: bool) -> &'static str {
    if passed {
        "passed"
    } else {
        "failed"
    }
}

/// Returns the proof of `state` at `head`.
pub fn proof(state: &GoalState, head: Head, tree: TreeHead) -> Proof<'_> {
    let tasks = state
        .tasks
        .tasks()
        .iter()
        .map(|task| {
            let last = task.runs.last();
            // Oldest first: the work of every run the branch holds (a fix round builds on it).
            let work: Vec<_> = task.work_on_branch().into_iter().rev().collect();
            TaskProof {
                id: &task.spec.id,
                title: &task.spec.title,
                status: task.status,
                required: task.spec.required,
                branch: last.map(|run| run.started.branch.as_str()),
                commits: work
                    .iter()
                    .flat_map(|changes| changes.commits.iter().map(String::as_str))
                    .collect(),
                changed_files: task.changed_files(),
                outside_write_set: work
                    .iter()
                    .flat_map(|changes| changes.outside_write_set.iter().map(String::as_str))
                    .collect(),
                agent_runs: task.runs.len(),
                evidence: &task.evidence,
                claim: last
                    .and_then(|run| run.finished.as_ref())
                    .and_then(|finished| finished.claim.as_deref()),
                failure: (task.status != TaskStatus::Done)
                    .then_some(task.last_failure.as_deref())
                    .flatten(),
                last_lines: last
                    .and_then(|run| run.finished.as_ref())
                    .map_or("", |finished| finished.last_lines.as_str()),
            }
        })
        .collect();
    let gates = latest_gate_runs(state)
        .into_iter()
        .map(|record| {
            let run = &record.run;
            let base = state
                .gate_runs
                .iter()
                .rev()
                .find(|baseline| baseline.run.target.baseline && baseline.run.gate == run.gate)
                .map(|baseline| outcome(baseline.run.passed()));
            GateProof {
                gate: &run.gate,
                command: &run.command,
                required: run.required,
                base,
                head: outcome(run.passed()),
                commit: &run.target.commit,
                tree: &run.target.tree,
                dirty: run.target.dirty,
                timed_out: run.timed_out,
                duration_ms: run.duration_ms,
                output: run.output.to_hex(),
                last_lines: &run.last_lines,
                earlier: earlier_runs(state, record),
                reused_from: run.reused_from,
            }
        })
        .collect();
    let rounds = state
        .rounds
        .iter()
        .map(|record| RoundProof {
            round: record.started.round,
            cause: record.started.cause,
            reason: &record.started.reason,
            tasks: &record.started.tasks,
            started_at: record.at,
            seq: record.seq,
        })
        .collect();
    let mut known_gaps = Vec::new();
    if state.budget.reports_without_usd > 0 {
        known_gaps.push(format!(
            "spend is a lower bound: {} did not say their cost",
            crate::project::show::plural(state.budget.reports_without_usd, "usage report")
        ));
    }
    if !state
        .gate_runs
        .iter()
        .any(|record| record.run.target.baseline)
    {
        known_gaps.push("no baseline: the gates never ran on the base commit".to_owned());
    }
    Proof {
        head,
        tree,
        derived_by: DerivedBy::this_build(PROOF_FORMAT),
        goal_id: &state.goal_id,
        prompt: &state.prompt,
        base_commit: state.base_commit.as_deref(),
        started_at: state.started_at,
        updated_at: state.updated_at,
        status: state.status,
        verdict: verdict(state),
        claimed: state.result.as_ref().map(|result| Claimed {
            branch: &result.branch,
            commit: &result.commit,
            tree: &result.tree,
            merged: &result.merged,
        }),
        tasks,
        rounds,
        gates,
        review: state.review.as_ref().map(|review| ReviewProof {
            commit: &review.commit,
            passed: review.passed,
            files_reviewed: review.files_reviewed,
            findings: &review.findings,
            findings_artifact: review.findings_artifact.to_hex(),
        }),
        landed: state.landed.as_ref(),
        integration: state
            .integration
            .as_ref()
            .map(|decision| (label(&decision.decision), decision.note.as_str())),
        known_gaps,
        decisions_required: state
            .outcome
            .iter()
            .flat_map(|outcome| outcome.decisions_required.iter().map(String::as_str))
            .collect(),
        budget: budget_glance(state),
    }
}

/// Returns the runs of `latest`'s gate on the goal's earlier claimed trees (each tree's last).
fn earlier_runs<'a>(state: &'a GoalState, latest: &GateRecord) -> Vec<GateAttempt<'a>> {
    let mut earlier: Vec<GateAttempt<'a>> = Vec::new();
    for record in state.gate_runs.iter().filter(|record| {
        let run = &record.run;
        run.gate == latest.run.gate
            && run.target.is_claimed_tree()
            && run.target.commit != latest.run.target.commit
            && !run.interrupted
    }) {
        let attempt = GateAttempt {
            commit: &record.run.target.commit,
            outcome: outcome(record.run.passed()),
            output: record.run.output.to_hex(),
        };
        match earlier.last_mut() {
            Some(last) if last.commit == attempt.commit => *last = attempt,
            _ => earlier.push(attempt),
        }
    }
    earlier
}

/// An in-toto Statement v1 carrying the proof.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Statement<'a> {
    #[serde(rename = "_type")]
    pub statement_type: &'static str,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: &'static str,
    pub predicate: Proof<'a>,
}

/// An in-toto subject: a name and its digests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Subject {
    pub name: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

/// Returns the proof as an in-toto Statement whose subjects are the claimed commit and tree.
pub fn statement(proof: Proof<'_>) -> Statement<'_> {
    let mut subject = Vec::new();
    if let Some(claimed) = &proof.claimed {
        for (name, kind, digest) in [
            (claimed.branch, "gitCommit", claimed.commit),
            (claimed.branch, "gitTree", claimed.tree),
        ] {
            subject.push(Subject {
                name: format!("{name}#{kind}"),
                digest: [(kind.to_owned(), digest.to_owned())].into_iter().collect(),
            });
        }
    }
    Statement {
        statement_type: STATEMENT_TYPE,
        subject,
        predicate_type: PREDICATE_TYPE,
        predicate: proof,
    }
}

/// Returns the proof as Markdown.
pub fn proof_markdown(proof: &Proof<'_>) -> String {
    let mut out = String::new();
    let verdict = if proof.verdict.ready {
        "READY"
    } else {
        "NOT READY"
    };
    let _ = writeln!(out, "# Proof for goal {}: {verdict}\n", proof.goal_id);
    let _ = writeln!(
        out,
        "Derived from the goal's log at seq {} (`{}`); its Merkle tree of {} has root `{}`.\n",
        proof.head.seq,
        proof.head.hash,
        plural(proof.tree.size, "event"),
        proof.tree.root
    );
    for line in proof.prompt.lines() {
        let _ = writeln!(out, "> {line}");
    }
    let _ = writeln!(out, "\n- Status: {}", proof.status);
    let _ = writeln!(
        out,
        "- Base commit: `{}`",
        proof.base_commit.unwrap_or("none")
    );
    match &proof.claimed {
        Some(claimed) => {
            let _ = writeln!(
                out,
                "- Claimed tree: `{}` at `{}` (tree `{}`), merging {}",
                claimed.branch,
                claimed.commit,
                claimed.tree,
                claimed.merged.join(", ")
            );
        }
        None => {
            let _ = writeln!(out, "- Claimed tree: none yet");
        }
    }
    let _ = writeln!(
        out,
        "- Budget: {}",
        crate::project::glance::budget_words(&proof.budget)
    );
    let _ = writeln!(out, "\n## Verdict\n");
    if proof.verdict.blockers.is_empty() {
        let _ = writeln!(out, "{ALL_CLEAR}");
    }
    for blocker in &proof.verdict.blockers {
        let _ = writeln!(
            out,
            "- **{}**: {} — next: {}",
            blocker.kind, blocker.detail, blocker.next_step
        );
    }
    if !proof.rounds.is_empty() {
        let _ = writeln!(out, "\n## Fix rounds\n");
        for round in &proof.rounds {
            let _ = writeln!(
                out,
                "- Round {} ({}): {}; reopened {} (seq {}, {})",
                round.round,
                round.cause.name(),
                round.reason,
                round.tasks.join(", "),
                round.seq,
                round.started_at
            );
        }
    }
    let _ = writeln!(out, "\n## Gates\n");
    if proof.gates.is_empty() {
        let _ = writeln!(out, "No gate has run on the claimed tree.");
    } else {
        let _ = writeln!(
            out,
            "| gate | required | base → head | commit | output |\n|---|---|---|---|---|"
        );
        for gate in &proof.gates {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} → {}{}{} | `{}` | `{}` |",
                gate.gate,
                if gate.required { "yes" } else { "no" },
                gate.base.unwrap_or("—"),
                gate.head,
                if gate.timed_out { " (timed out)" } else { "" },
                gate.reused_from.map_or(String::new(), |seq| format!(
                    " (reused: same tree at seq {seq})"
                )),
                short(gate.commit),
                gate.output
            );
        }
        for gate in &proof.gates {
            if !gate.earlier.is_empty() {
                let history: Vec<String> = gate
                    .earlier
                    .iter()
                    .map(|run| format!("{} on `{}`", run.outcome, short(run.commit)))
                    .chain(std::iter::once(format!(
                        "{} on `{}` (now)",
                        gate.head,
                        short(gate.commit)
                    )))
                    .collect();
                let _ = writeln!(
                    out,
                    "\n- `{}` over the rounds: {}",
                    gate.gate,
                    history.join(" → ")
                );
            }
            if !gate.last_lines.is_empty() {
                let _ = writeln!(
                    out,
                    "\nThe last lines of `{}`:\n\n```\n{}\n```",
                    gate.gate, gate.last_lines
                );
            }
        }
        let _ = writeln!(
            out,
            "\nPrint a gate's output with `omk artifact show <output>` (the first 8 digits do)."
        );
    }
    let _ = writeln!(out, "\n## Tasks\n");
    for task in &proof.tasks {
        let _ = writeln!(
            out,
            "- `{}` [{}] {}",
            task.id,
            task.status.name(),
            task.title
        );
        if !task.changed_files.is_empty() {
            let _ = writeln!(out, "  - changed: {}", task.changed_files.join(", "));
        }
        if !task.outside_write_set.is_empty() {
            let _ = writeln!(
                out,
                "  - outside its write set: {}",
                task.outside_write_set.join(", ")
            );
        }
        if let Some(claim) = task.claim {
            let _ = writeln!(
                out,
                "  - the agent claims (not evidence): {}",
                claim.lines().next().unwrap_or("")
            );
        }
        if let Some(failure) = task.failure {
            let _ = writeln!(out, "  - last failure: {failure}");
        }
        if !task.last_lines.is_empty() && task.status != TaskStatus::Done {
            for line in task.last_lines.lines() {
                let _ = writeln!(out, "    > {line}");
            }
        }
    }
    let _ = writeln!(out, "\n## Review\n");
    match &proof.review {
        None => {
            let _ = writeln!(out, "Not reviewed.");
        }
        Some(review) => {
            let _ = writeln!(
                out,
                "{} on `{}`: {} files, {} findings (artifact `{}`).",
                if review.passed { "Passed" } else { "Failed" },
                short(review.commit),
                review.files_reviewed,
                review.findings.len(),
                review.findings_artifact
            );
            for finding in review.findings {
                let place = match (&finding.file, finding.line) {
                    (Some(file), Some(line)) => format!("{file}:{line}: "),
                    (Some(file), None) => format!("{file}: "),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "- {} {place}{}",
                    label(&finding.severity),
                    finding.message
                );
            }
        }
    }
    let _ = writeln!(out, "\n## Integration\n");
    match &proof.integration {
        Some((decision, note)) => {
            let _ = writeln!(out, "{decision}: {note}");
        }
        None => {
            let _ = writeln!(out, "No decision yet.");
        }
    }
    if let Some(landed) = proof.landed {
        let _ = writeln!(out, "\n## Landed\n\n{}", landed_sentence(landed));
    }
    if !proof.known_gaps.is_empty() || !proof.decisions_required.is_empty() {
        let _ = writeln!(out, "\n## Gaps and decisions\n");
        for gap in &proof.known_gaps {
            let _ = writeln!(out, "- Gap: {gap}");
        }
        for decision in &proof.decisions_required {
            let _ = writeln!(out, "- Decision required: {decision}");
        }
    }
    out
}
