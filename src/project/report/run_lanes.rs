//! The run as lanes over time, folded from the events one at a time: the goal's phases, its
//! milestones, each task's running spans, and each gate's runs, every shape placed by the
//! timestamps the log stamped.
//!
//! Memory grows with the shapes drawn (runs, gates, milestones, capped), never with the log,
//! so a report of a long goal streams its events through here. Must not read the clock: a bar
//! still open when the log ends is drawn to the last event and said to be open.

use std::collections::BTreeMap;

use crate::event::{Decision, Event, GateTarget, Phase, RecordedEvent, TaskStatus, Timestamp};
use crate::project::report::html::clip;
use crate::project::timeline::{entry, sentence, Entry};

/// The most bars and marks the chart draws; past it, shapes are counted, not drawn.
pub const MAX_SHAPES: usize = 4_000;
/// The most events the report lists one by one; `omk replay` prints the rest.
pub const MAX_LISTED_EVENTS: usize = 2_000;
/// The longest sentence a tooltip carries, in characters.
const MAX_SENTENCE: usize = 300;

/// How a shape is coloured: one palette for the whole page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Passed,
    Failed,
    Warning,
    Running,
    Neutral,
    Paused,
    Phase(Phase),
}

impl Tone {
    /// Returns the CSS class the page's stylesheet colours this tone with.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Passed => "ok",
            Tone::Failed => "bad",
            Tone::Warning => "warn",
            Tone::Running => "run",
            Tone::Neutral => "idle",
            Tone::Paused => "paused",
            Tone::Phase(phase) => match phase {
                Phase::Intake => "ph-intake",
                Phase::Planning => "ph-planning",
                Phase::Executing => "ph-executing",
                Phase::Verifying => "ph-verifying",
                Phase::Reviewing => "ph-reviewing",
                Phase::Integrating => "ph-integrating",
            },
        }
    }
}

/// Which lane a shape belongs to; the chart orders them phases, goal, tasks, gates.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LaneKey {
    Phases,
    Goal,
    Task(String),
    /// A gate on one kind of target: `base`, `claimed`, `landing` or `task <id>`.
    Gate {
        gate: String,
        target: String,
    },
}

/// Something that took time: a phase, a task's running span, a gate run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    pub start: Timestamp,
    /// When it ended, or `None` when the log holds no end for it.
    pub end: Option<Timestamp>,
    pub tone: Tone,
    /// A word or two drawn on the bar when it is wide enough.
    pub label: String,
    /// What the events say about it, one sentence a line (the tooltip).
    pub detail: String,
}

/// Something that happened at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub at: Timestamp,
    pub tone: Tone,
    /// A word or two drawn beside the mark when there is room.
    pub label: String,
    pub detail: String,
}

/// One lane of the chart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lane {
    /// The `seq` of its first shape: gates are ordered by it.
    pub first_seq: u64,
    pub bars: Vec<Bar>,
    pub marks: Vec<Mark>,
}

/// The start of a fix round, drawn as a line across every lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundLine {
    pub at: Timestamp,
    pub round: u32,
    pub detail: String,
}

/// The run folded into lanes; feed it every event in `seq` order with [`RunLanes::observe`].
#[derive(Clone, Debug, Default)]
pub struct RunLanes {
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    lanes: BTreeMap<LaneKey, Lane>,
    rounds: Vec<RoundLine>,
    entries: Vec<Entry>,
    n_events: u64,
    shapes: usize,
    shapes_left_out: u64,
    /// The phase bar still open, by its index in the phases lane.
    open_phase: Option<(Phase, usize)>,
    /// The pause bar still open, and the phase it interrupted.
    open_pause: Option<(Option<Phase>, usize)>,
    /// Each task's running span still open.
    open_tasks: BTreeMap<String, usize>,
    /// Each gate run started and not finished, by gate and target.
    open_gates: BTreeMap<(String, String), (LaneKey, usize)>,
}

impl RunLanes {
    /// Takes the next event of the log into the chart.
    pub fn observe(&mut self, recorded: &RecordedEvent) {
        let at = recorded.at;
        self.first = Some(self.first.map_or(at, |first| first.min(at)));
        self.last = Some(self.last.map_or(at, |last| last.max(at)));
        self.n_events += 1;
        if self.entries.len() < MAX_LISTED_EVENTS {
            self.entries.push(entry(recorded));
        }
        let said = clip(&sentence(&recorded.event), MAX_SENTENCE);
        match &recorded.event {
            Event::PhaseEntered(entered) => {
                self.close_phase(at);
                self.open_phase(entered.phase, recorded.seq, at);
            }
            Event::GoalPaused(_) => self.pause(recorded.seq, at, said),
            Event::GoalResumed(_) => self.resume(recorded.seq, at),
            Event::TaskTransitioned(moved) => {
                self.task_moved(&moved.task_id, moved.to, moved.from, recorded.seq, at, said)
            }
            Event::AgentStarted(started) => {
                let label = match started.round {
                    0 => format!("{} #{}", started.agent, started.attempt),
                    round => format!("{} r{round} #{}", started.agent, started.attempt),
                };
                self.annotate_task(&started.task_id, Some(label), &said);
            }
            Event::AgentFinished(finished) => self.annotate_task(&finished.task_id, None, &said),
            Event::ChangesRecorded(changes) => {
                let label = format!("+{} −{}", changes.insertions, changes.deletions);
                self.task_mark(
                    &changes.task_id,
                    Tone::Running,
                    label,
                    recorded.seq,
                    at,
                    said,
                );
            }
            Event::TaskRetried(retried) => {
                let label = "retry".to_owned();
                self.task_mark(
                    &retried.task_id,
                    Tone::Warning,
                    label,
                    recorded.seq,
                    at,
                    said,
                );
            }
            Event::ResultConflicted(conflict) => {
                let label = "conflict".to_owned();
                self.task_mark(
                    &conflict.task_id,
                    Tone::Failed,
                    label,
                    recorded.seq,
                    at,
                    said,
                );
            }
            Event::GateStarted(started) => {
                let key = gate_key(&started.gate, &started.target);
                let lane = gate_lane(&started.gate, &started.target);
                let bar = Bar {
                    start: at,
                    end: None,
                    tone: Tone::Running,
                    label: "running".to_owned(),
                    detail: said,
                };
                if let Some(index) = self.push_bar(lane.clone(), recorded.seq, bar) {
                    self.open_gates.insert(key, (lane, index));
                }
            }
            Event::GateFinished(finished) => {
                let (tone, label) = match (finished.interrupted, finished.timed_out) {
                    (true, _) => (Tone::Neutral, "interrupted"),
                    (false, true) => (Tone::Warning, "timed out"),
                    _ if finished.reused_from.is_some() => (Tone::Passed, "reused"),
                    _ if finished.passed() => (Tone::Passed, "passed"),
                    _ => (Tone::Failed, "failed"),
                };
                let key = gate_key(&finished.gate, &finished.target);
                let started = self.open_gates.remove(&key);
                let open = started
                    .and_then(|(lane, index)| self.lanes.get_mut(&lane)?.bars.get_mut(index));
                match open {
                    Some(bar) => {
                        bar.end = Some(at.max(bar.start));
                        bar.tone = tone;
                        bar.label = label.to_owned();
                        bar.detail.push('\n');
                        bar.detail.push_str(&said);
                    }
                    None => {
                        // Logs written before `gate_started` existed: the run's own duration
                        // says when it began.
                        let start = earlier_by(at, finished.duration_ms);
                        let bar = Bar {
                            start,
                            end: Some(at),
                            tone,
                            label: label.to_owned(),
                            detail: said,
                        };
                        let lane = gate_lane(&finished.gate, &finished.target);
                        self.push_bar(lane, recorded.seq, bar);
                    }
                }
            }
            Event::RoundStarted(round) => {
                self.rounds.push(RoundLine {
                    at,
                    round: round.round,
                    detail: said.clone(),
                });
                let label = format!("round {}", round.round);
                self.goal_mark(Tone::Warning, label, recorded.seq, at, said);
            }
            event => {
                if let Some((tone, label)) = milestone(event) {
                    self.goal_mark(tone, label, recorded.seq, at, said);
                }
            }
        }
    }

    /// Returns the earliest timestamp seen (events are stamped by several threads, so the
    /// first event is not always the earliest).
    pub fn first(&self) -> Option<Timestamp> {
        self.first
    }

    /// Returns the latest timestamp seen.
    pub fn last(&self) -> Option<Timestamp> {
        self.last
    }

    /// Returns the lanes by key.
    pub fn lanes(&self) -> &BTreeMap<LaneKey, Lane> {
        &self.lanes
    }

    /// Returns the fix rounds' starts.
    pub fn rounds(&self) -> &[RoundLine] {
        &self.rounds
    }

    /// Returns the timeline's first [`MAX_LISTED_EVENTS`] entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Returns how many events were observed.
    pub fn n_events(&self) -> u64 {
        self.n_events
    }

    /// Returns how many shapes were left out past [`MAX_SHAPES`].
    pub fn shapes_left_out(&self) -> u64 {
        self.shapes_left_out
    }

    fn open_phase(&mut self, phase: Phase, seq: u64, at: Timestamp) {
        let bar = Bar {
            start: at,
            end: None,
            tone: Tone::Phase(phase),
            label: phase.name().to_owned(),
            detail: format!("entered {} at {at}", phase.name()),
        };
        self.open_phase = self
            .push_bar(LaneKey::Phases, seq, bar)
            .map(|index| (phase, index));
    }

    /// Ends the open phase bar at `at`, returning its phase.
    fn close_phase(&mut self, at: Timestamp) -> Option<Phase> {
        let (phase, index) = self.open_phase.take()?;
        self.end_bar(&LaneKey::Phases, index, at);
        Some(phase)
    }

    fn pause(&mut self, seq: u64, at: Timestamp, said: String) {
        let interrupted = self.close_phase(at);
        let bar = Bar {
            start: at,
            end: None,
            tone: Tone::Paused,
            label: "paused".to_owned(),
            detail: said,
        };
        self.open_pause = self
            .push_bar(LaneKey::Phases, seq, bar)
            .map(|index| (interrupted, index));
    }

    fn resume(&mut self, seq: u64, at: Timestamp) {
        if let Some((interrupted, index)) = self.open_pause.take() {
            self.end_bar(&LaneKey::Phases, index, at);
            if let Some(phase) = interrupted {
                self.open_phase(phase, seq, at);
            }
        }
    }

    fn end_bar(&mut self, lane: &LaneKey, index: usize, at: Timestamp) {
        if let Some(bar) = self
            .lanes
            .get_mut(lane)
            .and_then(|lane| lane.bars.get_mut(index))
        {
            bar.end = Some(at.max(bar.start));
        }
    }

    /// A task entering `running` opens its bar; leaving it closes the bar in the colour of
    /// where it went. Other moves are marks.
    fn task_moved(
        &mut self,
        task: &str,
        to: TaskStatus,
        from: TaskStatus,
        seq: u64,
        at: Timestamp,
        said: String,
    ) {
        let lane = LaneKey::Task(task.to_owned());
        if to == TaskStatus::Running {
            let bar = Bar {
                start: at,
                end: None,
                tone: Tone::Running,
                label: String::new(),
                detail: said,
            };
            if let Some(index) = self.push_bar(lane, seq, bar) {
                self.open_tasks.insert(task.to_owned(), index);
            }
            return;
        }
        let tone = status_tone(to);
        let open = self
            .open_tasks
            .remove(task)
            .filter(|_| from == TaskStatus::Running);
        let bar = open.and_then(|index| self.lanes.get_mut(&lane)?.bars.get_mut(index));
        match bar {
            Some(bar) => {
                bar.end = Some(at.max(bar.start));
                bar.tone = tone;
                bar.detail.push('\n');
                bar.detail.push_str(&said);
            }
            None => self.task_mark(task, tone, to.name().to_owned(), seq, at, said),
        }
    }

    /// Adds what an agent event says to the task's open bar, and its label when given.
    fn annotate_task(&mut self, task: &str, label: Option<String>, said: &str) {
        let lane = LaneKey::Task(task.to_owned());
        let Some(&index) = self.open_tasks.get(task) else {
            return;
        };
        if let Some(bar) = self
            .lanes
            .get_mut(&lane)
            .and_then(|lane| lane.bars.get_mut(index))
        {
            if let Some(label) = label {
                bar.label = label;
            }
            bar.detail.push('\n');
            bar.detail.push_str(said);
        }
    }

    fn task_mark(
        &mut self,
        task: &str,
        tone: Tone,
        label: String,
        seq: u64,
        at: Timestamp,
        detail: String,
    ) {
        let mark = Mark {
            at,
            tone,
            label,
            detail,
        };
        self.push_mark(LaneKey::Task(task.to_owned()), seq, mark);
    }

    fn goal_mark(&mut self, tone: Tone, label: String, seq: u64, at: Timestamp, detail: String) {
        let mark = Mark {
            at,
            tone,
            label,
            detail,
        };
        self.push_mark(LaneKey::Goal, seq, mark);
    }

    /// Adds `bar` to `lane` and returns its index there, unless the chart is full.
    fn push_bar(&mut self, lane: LaneKey, seq: u64, bar: Bar) -> Option<usize> {
        let lane = self.lane(lane, seq)?;
        lane.bars.push(bar);
        Some(lane.bars.len() - 1)
    }

    fn push_mark(&mut self, lane: LaneKey, seq: u64, mark: Mark) {
        if let Some(lane) = self.lane(lane, seq) {
            lane.marks.push(mark);
        }
    }

    /// Returns `key`'s lane for one more shape, or `None` (counting it) when the chart is full.
    fn lane(&mut self, key: LaneKey, seq: u64) -> Option<&mut Lane> {
        if self.shapes >= MAX_SHAPES {
            self.shapes_left_out += 1;
            return None;
        }
        self.shapes += 1;
        Some(self.lanes.entry(key).or_insert_with(|| Lane {
            first_seq: seq,
            ..Lane::default()
        }))
    }
}

/// Returns the tone and label of a goal-level event drawn as a milestone, if it is one.
fn milestone(event: &Event) -> Option<(Tone, String)> {
    let (tone, label) = match event {
        Event::RunStarted(_) => (Tone::Neutral, "started".to_owned()),
        Event::TasksPlanned(planned) => (
            Tone::Neutral,
            format!("{} tasks planned", planned.tasks.len()),
        ),
        Event::PlanEdited(_) => (Tone::Neutral, "plan edited".to_owned()),
        Event::PlannerFellBack(_) => (Tone::Warning, "planner fell back".to_owned()),
        Event::ResultBuilt(_) => (Tone::Running, "claimed tree".to_owned()),
        Event::ReviewRecorded(review) if review.passed => {
            (Tone::Passed, "review passed".to_owned())
        }
        Event::ReviewRecorded(_) => (Tone::Failed, "review failed".to_owned()),
        Event::IntegrationDecided(decided) => match decided.decision {
            Decision::Accepted => (Tone::Passed, "accepted".to_owned()),
            Decision::Rejected => (Tone::Failed, "rejected".to_owned()),
        },
        Event::GoalLanded(_) => (Tone::Passed, "landed".to_owned()),
        Event::PullRequestOpened(_) => (Tone::Neutral, "pull request".to_owned()),
        Event::GoalPruned(_) => (Tone::Neutral, "pruned".to_owned()),
        Event::BudgetExtended(_) => (Tone::Neutral, "budget raised".to_owned()),
        Event::GoalCancelled(_) => (Tone::Failed, "cancelled".to_owned()),
        Event::GoalConcluded(_) => (Tone::Warning, "concluded".to_owned()),
        Event::RunFailed(_) => (Tone::Failed, "run failed".to_owned()),
        _ => return None,
    };
    Some((tone, label))
}

/// Returns the colour of a task that left `running` for `status`.
fn status_tone(status: TaskStatus) -> Tone {
    match status {
        TaskStatus::Done => Tone::Passed,
        TaskStatus::Failed => Tone::Failed,
        TaskStatus::Blocked => Tone::Warning,
        TaskStatus::Running => Tone::Running,
        TaskStatus::Pending | TaskStatus::Cancelled => Tone::Neutral,
    }
}

/// Returns the lane of a gate on `target`: one per gate and kind of target.
fn gate_lane(gate: &str, target: &GateTarget) -> LaneKey {
    let target = match (&target.task_id, target.baseline, target.landing) {
        (Some(task), _, _) => format!("task {task}"),
        (None, true, _) => "base".to_owned(),
        (None, false, true) => "landing".to_owned(),
        (None, false, false) => "claimed".to_owned(),
    };
    LaneKey::Gate {
        gate: gate.to_owned(),
        target,
    }
}

/// Returns what pairs a gate's start with its finish: the gate and exactly where it ran.
fn gate_key(gate: &str, target: &GateTarget) -> (String, String) {
    let task = target.task_id.as_deref().unwrap_or("");
    let where_ = format!(
        "{}:{}:{}:{}",
        target.commit, target.baseline, target.landing, task
    );
    (gate.to_owned(), where_)
}

/// Returns the instant `duration_ms` before `at`.
fn earlier_by(at: Timestamp, duration_ms: u64) -> Timestamp {
    let micros = i64::try_from(duration_ms.saturating_mul(1_000)).unwrap_or(i64::MAX);
    at.instant()
        .checked_sub_signed(chrono::TimeDelta::microseconds(micros))
        .map_or(at, Timestamp::new)
}
