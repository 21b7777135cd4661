//! The pull request a goal's proof becomes: a title and a Markdown body, for `omk goal open-pr`.
//!
//! A pure view of the proof: the verdict, what changed, each gate from the base to the head,
//! the review, what the evidence does not cover, and how a reviewer checks the run themselves.
//! Must not decide whether a pull request may be opened: the goal's state does.

use std::fmt::Write;

use serde::Serialize;

use crate::project::proof::Proof;
use crate::project::show::plural;
use crate::state::verdict::short;

/// A pull request's title and body, and the branches it joins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PullRequest {
    pub title: String,
    /// The body, in Markdown.
    pub body: String,
    /// The branch the changes go into.
    pub base: String,
    /// The branch that holds them: the goal's result branch.
    pub head: String,
}

/// Returns the pull request for `proof`, into `base`.
pub fn pull_request(proof: &Proof<'_>, base: &str) -> PullRequest {
    PullRequest {
        title: title(proof.prompt),
        body: body(proof),
        base: base.to_owned(),
        head: proof
            .claimed
            .as_ref()
            .map_or(String::new(), |claimed| claimed.branch.to_owned()),
    }
}

/// The most characters a title keeps, as git and forges show a subject line.
const TITLE_CHARS: usize = 72;

/// Returns a one-line title for `prompt`: its first line, cut at a word before 72 characters
/// (with `…`) when it is longer.
pub fn title(prompt: &str) -> String {
    let first = prompt.lines().next().unwrap_or_default().trim();
    if first.chars().count() <= TITLE_CHARS {
        return first.to_owned();
    }
    let kept: String = first.chars().take(TITLE_CHARS - 1).collect();
    let cut = kept
        .rfind(' ')
        .filter(|at| *at > 0)
        .map_or(kept.as_str(), |at| &kept[..at]);
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

fn body(proof: &Proof<'_>) -> String {
    let mut out = String::new();
    for line in proof.prompt.lines() {
        let _ = writeln!(out, "> {line}");
    }
    let verdict = match (&proof.integration, proof.verdict.ready) {
        (_, true) => "**READY**: every required gate passed on the claimed tree, the review passed, and the integrator accepted it".to_owned(),
        (None, false) => "**READY FOR REVIEW**: every required gate passed on the claimed tree and the review passed; the integrator's decision is this pull request".to_owned(),
        (Some((decision, _)), false) => format!("**NOT READY**: the integrator {decision} it"),
    };
    let _ = writeln!(
        out,
        "\nomk verdict: {verdict}. Derived from goal `{}`'s log at seq {} (`{}`).",
        proof.goal_id,
        proof.head.seq,
        short(&proof.head.hash.to_string())
    );
    if let Some(claimed) = &proof.claimed {
        let _ = writeln!(
            out,
            "\nClaimed tree: `{}` (commit `{}`), on base `{}`.",
            short(claimed.tree),
            short(claimed.commit),
            short(proof.base_commit.unwrap_or("none"))
        );
    }
    let _ = writeln!(out, "\n### What changed\n");
    for task in proof
        .tasks
        .iter()
        .filter(|task| !task.changed_files.is_empty())
    {
        let _ = writeln!(
            out,
            "- **{}** ({}): {}",
            task.title,
            task.id,
            task.changed_files
                .iter()
                .map(|file| format!("`{file}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !task.outside_write_set.is_empty() {
            let _ = writeln!(
                out,
                "  - outside its planned write set: {}",
                task.outside_write_set.join(", ")
            );
        }
    }
    if !proof.rounds.is_empty() {
        let _ = writeln!(
            out,
            "\nIt took {}: {}.",
            plural(proof.rounds.len() as u64, "fix round"),
            proof
                .rounds
                .iter()
                .map(|round| format!("round {}: {}", round.round, round.reason))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let _ = writeln!(out, "\n### Gates\n");
    let _ = writeln!(out, "| gate | required | base | head |");
    let _ = writeln!(out, "| --- | :-: | --- | --- |");
    for gate in &proof.gates {
        let earlier: String = gate
            .earlier
            .iter()
            .map(|attempt| format!("{} → ", attempt.outcome))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {earlier}{} on `{}` |",
            gate.gate,
            if gate.required { "yes" } else { "no" },
            gate.base.unwrap_or("not run"),
            gate.head,
            short(gate.tree)
        );
    }
    let _ = writeln!(out, "\n### Review\n");
    match &proof.review {
        Some(review) => {
            let _ = writeln!(
                out,
                "{} on `{}`: {} reviewed, {}.",
                if review.passed { "Passed" } else { "Failed" },
                short(review.commit),
                plural(review.files_reviewed, "file"),
                plural(review.findings.len() as u64, "finding")
            );
        }
        None => {
            let _ = writeln!(out, "Not reviewed.");
        }
    }
    if !proof.known_gaps.is_empty() {
        let _ = writeln!(out, "\n### What the evidence does not cover\n");
        for gap in &proof.known_gaps {
            let _ = writeln!(out, "- {gap}");
        }
    }
    let _ = writeln!(
        out,
        "\n### Check it yourself\n\n```sh\nomk goal fetch {id}\nomk replay {id} --verify\nomk goal proof {id}\n```\n\nThe run travels under `refs/omk/goals/{id}` (`omk goal push {id}` shares it); the proof speaks for log head seq {seq} (`{hash}`).",
        id = proof.goal_id,
        seq = proof.head.seq,
        hash = proof.head.hash,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_the_prompts_first_line_cut_at_a_word() {
        assert_eq!(title("Fix the parser\nmore"), "Fix the parser");
        let long = "Add a --json flag to the list command. Fix the parser crash on empty input";
        assert_eq!(
            title(long),
            "Add a --json flag to the list command. Fix the parser crash on empty…"
        );
        assert!(title(long).chars().count() <= TITLE_CHARS);
        assert_eq!(title(&"x".repeat(100)).chars().count(), TITLE_CHARS);
    }
}
