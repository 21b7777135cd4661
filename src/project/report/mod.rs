//! The report: one self-contained HTML page per goal, to look at. The verdict and its blockers
//! in the proof's words, the run drawn over time, the task graph, the gates from base to head,
//! the changed files, and every artifact openable in place.
//!
//! A pure function of projections the caller folded (the state, the proof, [`RunLanes`] from
//! the events) and the artifacts' bytes the caller read and checked; the same inputs give the
//! same bytes. Must not load anything from the network: no script, no external style, font or
//! image, and a Content-Security-Policy that forbids them should anything slip in. Every piece
//! of text from the log is escaped (`html`), since agents and gates write it.

mod artifacts;
mod diffstat;
mod graph_svg;
mod html;
pub mod run_lanes;
mod timeline_svg;

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine as _;
use sha2::Digest as _;

use crate::event::{ChangesRecorded, FindingSeverity, TaskStatus};
use crate::log::artifacts::ContentHash;
use crate::plan::documents::label;
use crate::project::derived::DerivedBy;
use crate::project::glance::{budget_words, next_step, status_words};
use crate::project::proof::{landed_words, Proof, ALL_CLEAR};
use crate::project::show::plural;
use crate::state::verdict::{short, BlockerKind, Verdict};
use crate::state::{GoalState, Task};

use artifacts::artifacts_section;
use diffstat::file_stats;
use graph_svg::task_graph_svg;
use html::{escape, push_escaped};
use run_lanes::{RunLanes, Tone, MAX_LISTED_EVENTS};
use timeline_svg::{duration_words, timeline_svg};

/// The report's format version: bumped whenever the report of a given log changes its bytes.
pub const REPORT_FORMAT: u32 = 1;
/// The most bytes of one artifact the page holds; the rest is one command away.
pub const ARTIFACT_SHOWN_BYTES: u64 = 64_000;
/// The most bytes of artifacts the page holds in all; artifacts past it are listed only.
pub const ARTIFACTS_SHOWN_TOTAL: u64 = 8_000_000;

/// The page's whole stylesheet; the Content-Security-Policy admits exactly these bytes.
const STYLE: &str = include_str!("report.css");

/// What the caller found in the artifact store for one recorded artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactContent {
    /// Its first bytes (at most [`ARTIFACT_SHOWN_BYTES`]), from a file whose hash was checked;
    /// `whole` when they are all of it.
    Read { bytes: Vec<u8>, whole: bool },
    /// Not read: the page already holds [`ARTIFACTS_SHOWN_TOTAL`] bytes of artifacts.
    OverTotal,
    /// No file in the store has its hash.
    Missing,
    /// The stored file no longer matches what the log recorded.
    Altered { detail: String },
    /// The file could not be read.
    Unreadable { detail: String },
}

/// Everything the report is made of.
#[derive(Clone, Copy, Debug)]
pub struct ReportInput<'a> {
    pub state: &'a GoalState,
    pub proof: &'a Proof<'a>,
    /// The events folded into lanes over time, through the proof's head.
    pub lanes: &'a RunLanes,
    /// What the store holds for each recorded artifact, by hash.
    pub artifacts: &'a BTreeMap<ContentHash, ArtifactContent>,
}

/// Returns the report as one HTML document.
pub fn report_html(input: &ReportInput<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("omk report: goal {}", input.state.goal_id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src '{}'\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        style_digest(),
        escape(&title)
    );
    header(&mut out, input);
    out.push_str("<nav class=\"toc\"><a href=\"#timeline\">Timeline</a><a href=\"#tasks\">Tasks</a><a href=\"#gates\">Gates</a><a href=\"#changes\">Changed files</a>");
    if !input.proof.rounds.is_empty() {
        out.push_str("<a href=\"#rounds\">Fix rounds</a>");
    }
    out.push_str("<a href=\"#review\">Review</a><a href=\"#artifacts\">Artifacts</a><a href=\"#events\">Events</a></nav>\n");
    timeline_section(&mut out, input);
    tasks_section(&mut out, input);
    gates_section(&mut out, input);
    changes_section(&mut out, input);
    rounds_section(&mut out, input.proof);
    review_section(&mut out, input.proof);
    artifacts_section(&mut out, input);
    events_section(&mut out, input);
    footer(&mut out, input.proof);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Returns the CSP source that admits the stylesheet: its SHA-256, base64.
fn style_digest() -> String {
    let digest = sha2::Sha256::digest(STYLE.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Returns the tone of the verdict: green when ready, red when something failed, yellow when
/// it only waits (for a step, a run, a person).
fn verdict_tone(verdict: &Verdict) -> Tone {
    if verdict.ready {
        Tone::Passed
    } else if verdict
        .blockers
        .iter()
        .any(|blocker| blocker_tone(blocker.kind) == Tone::Failed)
    {
        Tone::Failed
    } else {
        Tone::Warning
    }
}

/// Returns the tone of a blocker: red for evidence against the result, yellow for evidence
/// still to come.
fn blocker_tone(kind: BlockerKind) -> Tone {
    match kind {
        BlockerKind::ResultConflict
        | BlockerKind::NoChange
        | BlockerKind::GateFailed
        | BlockerKind::RedFirst
        | BlockerKind::DirtyTree
        | BlockerKind::ReviewFailed
        | BlockerKind::Rejected => Tone::Failed,
        BlockerKind::GoalEnded
        | BlockerKind::NoClaimedTree
        | BlockerKind::EvidenceStale
        | BlockerKind::GateMissing
        | BlockerKind::TaskNotDone
        | BlockerKind::ReviewMissing
        | BlockerKind::NotAccepted => Tone::Warning,
    }
}

/// Returns the anchor of an artifact's place in the artifacts section.
fn artifact_anchor(hash: &ContentHash) -> String {
    format!("artifact-{}", hash.to_hex())
}

/// Returns a link to an artifact's place on the page, named `text`.
fn artifact_link(hash: &ContentHash, text: &str) -> String {
    format!(
        "<a class=\"artifact-link\" href=\"#{}\">{}</a>",
        artifact_anchor(hash),
        escape(text)
    )
}

/// Returns a pill: a word in a tone's colours.
fn pill(tone: Tone, text: &str) -> String {
    format!(
        "<span class=\"pill {}\">{}</span>",
        tone.class(),
        escape(text)
    )
}

/// Returns the tone of a gate's `passed` or `failed`.
fn outcome_tone(outcome: &str) -> Tone {
    if outcome == "passed" {
        Tone::Passed
    } else {
        Tone::Failed
    }
}

/// Returns the tone of a task's status.
fn status_tone(status: TaskStatus) -> Tone {
    match status {
        TaskStatus::Done => Tone::Passed,
        TaskStatus::Failed => Tone::Failed,
        TaskStatus::Blocked => Tone::Warning,
        TaskStatus::Running => Tone::Running,
        TaskStatus::Pending | TaskStatus::Cancelled => Tone::Neutral,
    }
}

fn header(out: &mut String, input: &ReportInput<'_>) {
    let (state, proof) = (input.state, input.proof);
    let tone = verdict_tone(&proof.verdict);
    let word = if proof.verdict.ready {
        "READY"
    } else {
        "NOT READY"
    };
    out.push_str(
        "<header class=\"card top\">\n<p class=\"eyebrow\">omk · goal report</p>\n<h1>Goal <code>",
    );
    push_escaped(out, proof.goal_id);
    out.push_str("</code></h1>\n<blockquote class=\"prompt\">");
    push_escaped(out, proof.prompt);
    let _ = write!(
        out,
        "</blockquote>\n<div class=\"verdict {}\"><span class=\"verdict-word\">{word}</span><span class=\"verdict-status\">status: <b>{}</b></span></div>\n",
        tone.class(),
        escape(proof.status.name())
    );
    if proof.verdict.blockers.is_empty() {
        let _ = writeln!(out, "<p class=\"all-clear\">{}</p>", escape(ALL_CLEAR));
    } else {
        out.push_str("<ul class=\"blockers\">\n");
        for blocker in &proof.verdict.blockers {
            let tone = blocker_tone(blocker.kind);
            let _ = writeln!(
                out,
                "<li class=\"{}\">{} {} <span class=\"next\">— next: <code>{}</code></span></li>",
                tone.class(),
                pill(tone, blocker.kind.name()),
                escape(&blocker.detail),
                escape(&blocker.next_step)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<dl class=\"facts\">\n");
    let mut fact = |name: &str, value: String| {
        let _ = writeln!(out, "<dt>{name}</dt><dd>{value}</dd>");
    };
    let mut status = escape(&status_words(state));
    if let Some(outcome) = &state.outcome {
        let _ = write!(status, " — {}", escape(&outcome.reason));
    }
    fact("Status", status);
    fact(
        "Next",
        format!("<code>{}</code>", escape(&next_step(state))),
    );
    fact("Base commit", code_or_none(proof.base_commit));
    fact(
        "Claimed tree",
        match &proof.claimed {
            Some(claimed) => format!(
                "<code>{}</code> at <code>{}</code> (tree <code>{}</code>), merging {}",
                escape(claimed.branch),
                escape(short(claimed.commit)),
                escape(short(claimed.tree)),
                escape(&claimed.merged.join(", "))
            ),
            None => "none yet".to_owned(),
        },
    );
    if let Some(landed) = proof.landed {
        fact("Landed", escape(&landed_words(landed, str::to_owned)));
    }
    fact("Budget", escape(&budget_words(&proof.budget)));
    fact(
        "Agent",
        format!(
            "{} · planner: {}",
            escape(state.options.agent.as_deref().unwrap_or("none")),
            escape(state.options.planner.as_deref().unwrap_or("built-in"))
        ),
    );
    fact(
        "Started",
        format!("{} · last event {}", proof.started_at, proof.updated_at),
    );
    fact(
        "Log head",
        format!(
            "seq {} <code class=\"hash\">{}</code>",
            proof.head.seq, proof.head.hash
        ),
    );
    fact(
        "Merkle root",
        format!(
            "{} · <code class=\"hash\">{}</code>",
            plural(proof.tree.size, "event"),
            proof.tree.root
        ),
    );
    out.push_str("</dl>\n</header>\n");
}

/// Returns `value` as code, or `none`.
fn code_or_none(value: Option<&str>) -> String {
    value.map_or("none".to_owned(), |value| {
        format!("<code>{}</code>", escape(value))
    })
}

fn timeline_section(out: &mut String, input: &ReportInput<'_>) {
    let lanes = input.lanes;
    out.push_str("<section class=\"card\" id=\"timeline\">\n<h2>Timeline</h2>\n");
    let (Some(first), Some(last)) = (lanes.first(), lanes.last()) else {
        out.push_str("<p class=\"muted\">The log holds no event to draw.</p>\n</section>\n");
        return;
    };
    let took = (last.instant() - first.instant())
        .num_microseconds()
        .unwrap_or(i64::MAX);
    let _ = writeln!(
        out,
        "<p class=\"caption\">Time runs left to right from the first event ({first}) to the last ({last}): {} of {}. Bars are phases, tasks while running, and gate runs; diamonds are moments; dashed lines start fix rounds. Hover over a shape for what the log says about it.</p>",
        duration_words(took),
        plural(lanes.n_events(), "event")
    );
    let order: Vec<&str> = input
        .state
        .tasks
        .tasks()
        .iter()
        .map(|task| task.spec.id.as_str())
        .collect();
    let _ = writeln!(
        out,
        "<div class=\"scroll\">{}</div>",
        timeline_svg(lanes, &order)
    );
    out.push_str("<p class=\"legend\">");
    for (tone, meaning) in [
        (Tone::Passed, "done, passed"),
        (Tone::Failed, "failed"),
        (Tone::Warning, "blocked, timed out, retried"),
        (Tone::Running, "running, claimed tree"),
        (Tone::Neutral, "back to pending, interrupted, other"),
    ] {
        let _ = write!(
            out,
            "<span class=\"key\"><span class=\"swatch {}\"></span>{meaning}</span>",
            tone.class()
        );
    }
    out.push_str("<span class=\"key\"><span class=\"swatch open\"></span>no end recorded</span><span class=\"key\"><span class=\"swatch idle-band\"></span>long idle time, shortened</span></p>\n");
    if lanes.shapes_left_out() > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">The chart draws the first {} shapes; {} more are left out. <code>omk replay {}</code> lists every event.</p>",
            run_lanes::MAX_SHAPES,
            lanes.shapes_left_out(),
            escape(&input.state.goal_id)
        );
    }
    out.push_str("</section>\n");
}

fn tasks_section(out: &mut String, input: &ReportInput<'_>) {
    let tasks = input.state.tasks.tasks();
    let (done, all) = input.state.tasks.progress();
    let _ = writeln!(
        out,
        "<section class=\"card\" id=\"tasks\">\n<h2>Tasks <span class=\"count\">{done}/{all} done</span></h2>"
    );
    if tasks.is_empty() {
        out.push_str("<p class=\"muted\">No tasks yet.</p>\n</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p class=\"caption\">Each box is a task in the colour of its status; an arrow runs from a task to one that waits for it. Dashed boxes are the controller's own steps.</p>\n<div class=\"scroll\">{}</div>",
        task_graph_svg(tasks)
    );
    out.push_str("<table>\n<thead><tr><th>Task</th><th>Status</th><th>What</th><th>Runs</th><th>Output</th><th>Said or went wrong</th></tr></thead>\n<tbody>\n");
    for (task, proven) in tasks.iter().zip(&input.proof.tasks) {
        let _ = write!(
            out,
            "<tr><td class=\"id\"><code>{}</code></td><td>{}</td><td>{}<div class=\"muted small\">{}{}</div></td><td class=\"num\">{}</td><td>",
            escape(proven.id),
            pill(status_tone(proven.status), proven.status.name()),
            escape(proven.title),
            escape(&task.spec.owner_role),
            if proven.required { "" } else { " · optional" },
            proven.agent_runs
        );
        task_output_links(out, task);
        out.push_str("</td><td>");
        if let Some(claim) = proven.claim {
            let _ = write!(
                out,
                "<div><span class=\"muted\">the agent claims (not evidence):</span> {}</div>",
                escape(claim.lines().next().unwrap_or(""))
            );
        }
        if let Some(failure) = proven.failure {
            let _ = write!(
                out,
                "<div class=\"failure\">last failure: {}</div>",
                escape(failure)
            );
        }
        if !proven.last_lines.is_empty() && proven.status != TaskStatus::Done {
            let _ = write!(
                out,
                "<pre class=\"lines\">{}</pre>",
                escape(proven.last_lines)
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// Writes links to a task's last transcripts and the diffs of the work on its branch.
fn task_output_links(out: &mut String, task: &Task) {
    let mut links = Vec::new();
    if let Some(finished) = task.runs.last().and_then(|run| run.finished.as_ref()) {
        links.push(artifact_link(&finished.stdout, "stdout"));
        links.push(artifact_link(&finished.stderr, "stderr"));
    }
    for changes in task.work_on_branch().into_iter().rev() {
        if let Some(diff) = &changes.diff {
            links.push(artifact_link(
                diff,
                &format!("diff {}", short(&changes.head_commit)),
            ));
        }
    }
    out.push_str(&links.join(" "));
}

fn gates_section(out: &mut String, input: &ReportInput<'_>) {
    let proof = input.proof;
    out.push_str("<section class=\"card\" id=\"gates\">\n<h2>Gates: base → head</h2>\n");
    if proof.gates.is_empty() {
        out.push_str("<p class=\"muted\">No gate has run on the claimed tree.</p>\n</section>\n");
        return;
    }
    out.push_str("<p class=\"caption\">Each gate's result on the base commit (the baseline) and its latest on the claimed tree: the verdict's evidence.</p>\n<table>\n<thead><tr><th>Gate</th><th>Command</th><th>Required</th><th>Base</th><th></th><th>Head</th><th>Commit</th><th>Took</th><th>Output</th></tr></thead>\n<tbody>\n");
    for gate in &proof.gates {
        let base = gate.base.map_or_else(
            || pill(Tone::Neutral, "did not run"),
            |base| pill(outcome_tone(base), base),
        );
        let mut head = pill(outcome_tone(gate.head), gate.head);
        if gate.timed_out {
            head.push_str(" <span class=\"muted small\">timed out</span>");
        }
        if let Some(seq) = gate.reused_from {
            let _ = write!(
                head,
                " <span class=\"muted small\">reused: same tree at seq {seq}</span>"
            );
        }
        if gate.dirty {
            head.push_str(" <span class=\"muted small\">on a dirty checkout</span>");
        }
        let mut links = Vec::new();
        if let Ok(hash) = gate.output.parse::<ContentHash>() {
            links.push(artifact_link(&hash, "head"));
        }
        if let Some(baseline) = input
            .state
            .gate_runs
            .iter()
            .rev()
            .find(|record| record.run.target.baseline && record.run.gate.as_str() == gate.gate)
        {
            links.push(artifact_link(&baseline.run.output, "base"));
        }
        let _ = writeln!(
            out,
            "<tr><td><b>{}</b></td><td><code>{}</code></td><td>{}</td><td>{base}</td><td class=\"arrow\">→</td><td>{head}</td><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(gate.gate),
            escape(gate.command),
            if gate.required { "yes" } else { "no" },
            escape(short(gate.commit)),
            duration_words(i64::try_from(gate.duration_ms.saturating_mul(1_000)).unwrap_or(i64::MAX)),
            links.join(" ")
        );
    }
    out.push_str("</tbody>\n</table>\n");
    for gate in &proof.gates {
        if !gate.earlier.is_empty() {
            let history: Vec<String> = gate
                .earlier
                .iter()
                .map(|run| {
                    format!(
                        "{} on <code>{}</code>",
                        pill(outcome_tone(run.outcome), run.outcome),
                        escape(short(run.commit))
                    )
                })
                .chain(std::iter::once(format!(
                    "{} on <code>{}</code> (now)",
                    pill(outcome_tone(gate.head), gate.head),
                    escape(short(gate.commit))
                )))
                .collect();
            let _ = writeln!(
                out,
                "<p class=\"history\"><b>{}</b> over the rounds: {}</p>",
                escape(gate.gate),
                history.join(" → ")
            );
        }
        if !gate.last_lines.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"small\">The last lines of <b>{}</b>:</p><pre class=\"lines\">{}</pre>",
                escape(gate.gate),
                escape(gate.last_lines)
            );
        }
    }
    out.push_str("</section>\n");
}

/// What one file of a task's work added and removed, summed over the runs on its branch.
#[derive(Clone, Debug, Default)]
struct FileCount {
    added: u64,
    removed: u64,
    binary: bool,
    /// Whether every run that changed the file has its diff on the page whole.
    counted: bool,
}

fn changes_section(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<section class=\"card\" id=\"changes\">\n<h2>Changed files</h2>\n");
    let tasks: Vec<&Task> = input
        .state
        .tasks
        .tasks()
        .iter()
        .filter(|task| !task.work_on_branch().is_empty())
        .collect();
    if tasks.is_empty() {
        out.push_str("<p class=\"muted\">No task recorded a change.</p>\n</section>\n");
        return;
    }
    out.push_str("<p class=\"caption\">Every file the work on each task's branch changed, as the log records it. Lines added and removed are counted from each run's diff; — means the page does not hold that diff whole (open it below, or print it with <code>omk artifact show</code>).</p>\n<table>\n<thead><tr><th>File</th><th>Task</th><th class=\"num\">Added</th><th class=\"num\">Removed</th><th></th><th>Scope</th></tr></thead>\n<tbody>\n");
    for task in tasks {
        // Oldest first: the order the work was done in.
        let work: Vec<&ChangesRecorded> = task.work_on_branch().into_iter().rev().collect();
        let counts = file_counts(&work, input.artifacts);
        for file in task.changed_files() {
            let count = counts.get(file).cloned().unwrap_or_default();
            let (added, removed, blocks) = match (count.counted, count.binary) {
                (true, false) => (
                    format!("+{}", count.added),
                    format!("−{}", count.removed),
                    change_blocks(count.added, count.removed),
                ),
                (true, true) => ("binary".to_owned(), String::new(), String::new()),
                (false, _) => ("—".to_owned(), "—".to_owned(), String::new()),
            };
            let scope = if work
                .iter()
                .any(|changes| changes.outside_write_set.iter().any(|path| path == file))
            {
                pill(Tone::Failed, "outside its write set")
            } else if work
                .iter()
                .any(|changes| changes.widened.iter().any(|path| path == file))
            {
                pill(Tone::Warning, "widened")
            } else {
                pill(Tone::Passed, "within")
            };
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num add\">{added}</td><td class=\"num del\">{removed}</td><td>{blocks}</td><td>{scope}</td></tr>",
                escape(file),
                escape(&task.spec.id)
            );
        }
        let (insertions, deletions) =
            work.iter().fold((0u64, 0u64), |(added, removed), changes| {
                (added + changes.insertions, removed + changes.deletions)
            });
        let _ = writeln!(
            out,
            "<tr class=\"total\"><td colspan=\"2\"><code>{}</code>: {} over {}</td><td class=\"num add\">+{insertions}</td><td class=\"num del\">−{deletions}</td><td></td><td></td></tr>",
            escape(&task.spec.id),
            plural(task.changed_files().len() as u64, "file"),
            plural(work.len() as u64, "run")
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// Returns each file's lines added and removed over `work`, from the diffs on the page.
fn file_counts(
    work: &[&ChangesRecorded],
    artifacts: &BTreeMap<ContentHash, ArtifactContent>,
) -> BTreeMap<String, FileCount> {
    let mut counts: BTreeMap<String, FileCount> = BTreeMap::new();
    for changes in work {
        let read = changes
            .diff
            .as_ref()
            .and_then(|hash| match artifacts.get(hash) {
                Some(ArtifactContent::Read { bytes, whole }) => Some((bytes, *whole)),
                _ => None,
            });
        let stats = read.map(|(bytes, whole)| {
            file_stats(
                &String::from_utf8_lossy(bytes),
                whole && !changes.diff_truncated,
            )
        });
        for file in &changes.changed_files {
            let count = counts.entry(file.clone()).or_insert(FileCount {
                counted: true,
                ..FileCount::default()
            });
            match stats
                .as_ref()
                .and_then(|stats| stats.iter().find(|stat| stat.path == *file))
            {
                Some(stat) => {
                    count.added += stat.added;
                    count.removed += stat.removed;
                    count.binary |= stat.binary;
                }
                None => count.counted = false,
            }
        }
    }
    counts
}

/// Returns five blocks showing the share of added and removed lines, as a diffstat does.
fn change_blocks(added: u64, removed: u64) -> String {
    let total = added + removed;
    if total == 0 {
        return String::new();
    }
    let green = ((added * 5 + total / 2) / total).min(5);
    let red = if removed > 0 { (5 - green).max(1) } else { 0 };
    let green = green.min(5 - red);
    let mut blocks = String::from("<span class=\"blocks\">");
    for class in std::iter::repeat_n("add", green as usize)
        .chain(std::iter::repeat_n("del", red as usize))
        .chain(std::iter::repeat_n("none", (5 - green - red) as usize))
    {
        let _ = write!(blocks, "<span class=\"{class}\"></span>");
    }
    blocks.push_str("</span>");
    blocks
}

fn rounds_section(out: &mut String, proof: &Proof<'_>) {
    if proof.rounds.is_empty() {
        return;
    }
    out.push_str("<section class=\"card\" id=\"rounds\">\n<h2>Fix rounds</h2>\n<table>\n<thead><tr><th>Round</th><th>Cause</th><th>Why</th><th>Reopened</th><th>Started</th></tr></thead>\n<tbody>\n");
    for round in &proof.rounds {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{} <span class=\"muted small\">seq {}</span></td></tr>",
            round.round,
            pill(Tone::Warning, round.cause.name()),
            escape(round.reason),
            escape(&round.tasks.join(", ")),
            round.started_at,
            round.seq
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn review_section(out: &mut String, proof: &Proof<'_>) {
    out.push_str("<section class=\"card\" id=\"review\">\n<h2>Review and integration</h2>\n");
    match &proof.review {
        None => out.push_str("<p>Review: <span class=\"muted\">not reviewed.</span></p>\n"),
        Some(review) => {
            let (tone, word) = if review.passed {
                (Tone::Passed, "passed")
            } else {
                (Tone::Failed, "failed")
            };
            let hash = review.findings_artifact.parse::<ContentHash>().ok();
            let _ = writeln!(
                out,
                "<p>Review {} on <code>{}</code>: {}, {}. {}</p>",
                pill(tone, word),
                escape(short(review.commit)),
                plural(review.files_reviewed, "file"),
                plural(review.findings.len() as u64, "finding"),
                hash.map_or(String::new(), |hash| artifact_link(&hash, "findings"))
            );
            if !review.findings.is_empty() {
                out.push_str("<table>\n<thead><tr><th>Severity</th><th>Check</th><th>Where</th><th>Finding</th></tr></thead>\n<tbody>\n");
                for finding in review.findings {
                    let tone = match finding.severity {
                        FindingSeverity::High => Tone::Failed,
                        FindingSeverity::Medium => Tone::Warning,
                    };
                    let place = match (&finding.file, finding.line) {
                        (Some(file), Some(line)) => format!("{file}:{line}"),
                        (Some(file), None) => file.clone(),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                        pill(tone, &label(&finding.severity)),
                        escape(&label(&finding.check)),
                        escape(&place),
                        escape(&finding.message)
                    );
                }
                out.push_str("</tbody>\n</table>\n");
            }
        }
    }
    match &proof.integration {
        Some((decision, note)) => {
            let tone = if decision == "accepted" {
                Tone::Passed
            } else {
                Tone::Failed
            };
            let _ = writeln!(
                out,
                "<p>Integrator: {} {}</p>",
                pill(tone, decision),
                escape(note)
            );
        }
        None => out.push_str("<p>Integrator: <span class=\"muted\">no decision yet.</span></p>\n"),
    }
    if let Some(landed) = proof.landed {
        let _ = writeln!(
            out,
            "<p>Landed: on {}.</p>",
            escape(&landed_words(landed, str::to_owned))
        );
    }
    if !proof.known_gaps.is_empty() || !proof.decisions_required.is_empty() {
        out.push_str("<ul class=\"gaps\">\n");
        for gap in &proof.known_gaps {
            let _ = writeln!(out, "<li>Gap: {}</li>", escape(gap));
        }
        for decision in &proof.decisions_required {
            let _ = writeln!(out, "<li>Decision required: {}</li>", escape(decision));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn events_section(out: &mut String, input: &ReportInput<'_>) {
    let lanes = input.lanes;
    let _ = write!(
        out,
        "<section class=\"card\" id=\"events\">\n<h2>Events</h2>\n<details><summary>All {}, as <code>omk replay</code> tells them</summary>\n<table class=\"events\">\n<thead><tr><th class=\"num\">Seq</th><th>Time</th><th>Task</th><th>What happened</th></tr></thead>\n<tbody>\n",
        plural(lanes.n_events(), "event")
    );
    for entry in lanes.entries() {
        if let Some(phase) = entry.phase {
            let _ = writeln!(
                out,
                "<tr class=\"phase-row\"><td class=\"num\">{}</td><td class=\"time\">{}</td><td></td><td>phase: {}</td></tr>",
                entry.seq,
                entry.at,
                phase.name()
            );
            continue;
        }
        let task = entry.task.as_deref().map_or(String::new(), |task| {
            format!("<code>{}</code>", escape(task))
        });
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{task}</td><td>{}</td></tr>",
            entry.seq,
            entry.at,
            escape(&entry.sentence)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if lanes.n_events() > lanes.entries().len() as u64 {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {MAX_LISTED_EVENTS} are listed; <code>omk replay {}</code> prints them all.</p>",
            escape(&input.state.goal_id)
        );
    }
    out.push_str("</details>\n</section>\n");
}

fn footer(out: &mut String, proof: &Proof<'_>) {
    let derived = DerivedBy::this_build(REPORT_FORMAT);
    let _ = writeln!(
        out,
        "<footer>Derived from the goal's log at seq {} (<code class=\"hash\">{}</code>); its Merkle tree of {} has root <code class=\"hash\">{}</code>. Made by omk {} (report format {}) from the log alone: this page loads nothing from the network. <code>omk replay {} --verify</code> checks the log it came from.</footer>",
        proof.head.seq,
        proof.head.hash,
        plural(proof.tree.size, "event"),
        proof.tree.root,
        escape(&derived.omk),
        derived.format,
        escape(proof.goal_id)
    );
}
