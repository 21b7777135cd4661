//! The run drawn as an inline SVG chart: one lane per phase row, goal, task and gate target,
//! bars from start to finish, marks for instants, fix rounds as lines across every lane, and
//! a time axis that shortens long idle stretches (each says how long it was).
//!
//! Pure drawing of [`RunLanes`]: positions come from the events' timestamps only. Must not
//! write a piece of the log's text but through `html::escape`.

use std::fmt::Write;

use crate::event::Timestamp;
use crate::project::report::html::{clip, escape};
use crate::project::report::run_lanes::{Lane, LaneKey, RunLanes};

const WIDTH: f64 = 1096.0;
/// The right edge of the lane labels.
const LABEL_RIGHT: f64 = 176.0;
const PLOT_LEFT: f64 = 188.0;
const PLOT_RIGHT: f64 = 1082.0;
/// The axis's height above the first lane.
const AXIS: f64 = 34.0;
const LANE: f64 = 28.0;
/// The goal lane holds a row of labels above and below its marks.
const GOAL_LANE: f64 = 46.0;
const BAR: f64 = 16.0;
/// How wide a shortened idle stretch is drawn.
const IDLE_WIDTH: f64 = 40.0;
/// The narrowest bar drawn, so that an instant's run still shows.
const MIN_BAR: f64 = 3.0;
/// About how wide one character of the chart's 11px text is.
const CHAR_WIDTH: f64 = 6.4;
/// An idle stretch is shortened when it is longer than this and a third of the run: a night
/// waiting for the integrator, not a pause between two steps.
const IDLE_MIN_MICROS: i64 = 300_000_000;

/// Returns the chart of `lanes` as an `<svg>` element; tasks' lanes follow `task_order`.
pub fn timeline_svg(lanes: &RunLanes, task_order: &[&str]) -> String {
    let (Some(first), Some(last)) = (lanes.first(), lanes.last()) else {
        return String::new();
    };
    let micros = |at: Timestamp| micros_between(first, at);
    let span = micros(last);
    let scale = TimeScale::new(busy_intervals(lanes, &micros), span);
    let ordered = ordered_lanes(lanes, task_order);
    let height = AXIS + ordered.iter().map(|(key, _)| lane_height(key)).sum::<f64>() + 10.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart timeline\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"Timeline of the run\">"
    );
    draw_lane_backgrounds(&mut svg, &ordered, height);
    let idle_words = draw_idle_bands(&mut svg, &scale, height);
    draw_axis(&mut svg, &scale, height, &idle_words);
    draw_rounds(&mut svg, lanes, &scale, &micros, height);
    let x_last = scale.x(span);
    let mut top = AXIS;
    for (key, lane) in &ordered {
        let mut lane_svg = String::new();
        let middle = top + lane_height(key) / 2.0;
        for bar in &lane.bars {
            let x = scale.x(micros(bar.start));
            let open = bar.end.is_none() && **key != LaneKey::Phases;
            let x_end = bar.end.map_or(x_last, |end| scale.x(micros(end)));
            let width = (x_end - x).max(MIN_BAR);
            let mut detail = bar.detail.clone();
            if open {
                let _ = write!(
                    detail,
                    "\nno end is recorded: it was still going when the log ends ({last})"
                );
            }
            let _ = write!(
                lane_svg,
                "<g class=\"bar {}{}\"><title>{}</title><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{BAR}\" rx=\"3\"/>",
                bar.tone.class(),
                if open { " open" } else { "" },
                escape(&detail),
                middle - BAR / 2.0
            );
            if !bar.label.is_empty() && text_width(&bar.label) + 8.0 <= width {
                let _ = write!(
                    lane_svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    x + 4.0,
                    middle + 4.0,
                    escape(&bar.label)
                );
            }
            lane_svg.push_str("</g>");
        }
        draw_marks(&mut lane_svg, key, lane, &scale, &micros, middle);
        let label = lane_label(key);
        let _ = write!(
            svg,
            "<g class=\"lane\"><text class=\"lane-label\" x=\"{LABEL_RIGHT}\" y=\"{:.1}\" text-anchor=\"end\"><title>{}</title>{}</text>{lane_svg}</g>",
            middle + 4.0,
            escape(&label),
            escape(&clip(&label, 26))
        );
        top += lane_height(key);
    }
    svg.push_str("</svg>");
    svg
}

/// Draws a lane's marks: diamonds, labelled in the goal lane where a label fits.
fn draw_marks(
    out: &mut String,
    key: &LaneKey,
    lane: &Lane,
    scale: &TimeScale,
    micros: &dyn Fn(Timestamp) -> i64,
    middle: f64,
) {
    // Where the labels of the rows above and below the marks end so far.
    let mut row_ends = [f64::MIN, f64::MIN];
    for mark in &lane.marks {
        let x = scale.x(micros(mark.at));
        let _ = write!(
            out,
            "<g class=\"mark {}\"><title>{} {}</title><path d=\"M{x:.1},{:.1}l5,5l-5,5l-5,-5z\"/>",
            mark.tone.class(),
            mark.at,
            escape(&mark.detail),
            middle - 5.0
        );
        if *key == LaneKey::Goal && !mark.label.is_empty() {
            // Left-aligned on the mark, or right-aligned where it would run off the chart.
            let width = text_width(&mark.label);
            let start = (x - 4.0).min(WIDTH - 2.0 - width);
            let free = row_ends.iter().position(|end| *end + 6.0 <= start);
            if let Some(row) = free {
                let y = if row == 0 {
                    middle - 9.0
                } else {
                    middle + 17.0
                };
                let _ = write!(
                    out,
                    "<text class=\"mark-label\" x=\"{start:.1}\" y=\"{y:.1}\">{}</text>",
                    escape(&mark.label)
                );
                row_ends[row] = start + width;
            }
        }
        out.push_str("</g>");
    }
}

/// Shades every other lane and rules the groups apart.
fn draw_lane_backgrounds(out: &mut String, ordered: &[(&LaneKey, &Lane)], height: f64) {
    let mut top = AXIS;
    let mut previous_group = None;
    for (index, (key, _)) in ordered.iter().enumerate() {
        let lane_height = lane_height(key);
        if index % 2 == 1 {
            let _ = write!(
                out,
                "<rect class=\"lane-alt\" x=\"0\" y=\"{top:.1}\" width=\"{WIDTH}\" height=\"{lane_height:.1}\"/>"
            );
        }
        let group = std::mem::discriminant(*key);
        if previous_group.is_some_and(|previous| previous != group) {
            let _ = write!(
                out,
                "<line class=\"group-rule\" x1=\"0\" y1=\"{top:.1}\" x2=\"{WIDTH}\" y2=\"{top:.1}\"/>"
            );
        }
        previous_group = Some(group);
        top += lane_height;
    }
    let _ = write!(
        out,
        "<line class=\"plot-edge\" x1=\"{PLOT_LEFT}\" y1=\"{AXIS}\" x2=\"{PLOT_LEFT}\" y2=\"{height:.1}\"/>"
    );
}

/// Draws each shortened idle stretch as a band that says how long it was, and returns where
/// those words sit on the axis row.
fn draw_idle_bands(out: &mut String, scale: &TimeScale, height: f64) -> Vec<(f64, f64)> {
    let mut taken = Vec::new();
    for piece in scale.pieces.iter().filter(|piece| piece.idle) {
        let words = duration_words(piece.to - piece.from);
        let centre = (piece.x_from + piece.x_to) / 2.0;
        let half = text_width(&words) / 2.0;
        let _ = write!(
            out,
            "<g class=\"idle-band\"><title>idle for {words}: shortened to fit</title><rect x=\"{:.1}\" y=\"{AXIS}\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{centre:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{words}</text></g>",
            piece.x_from,
            piece.x_to - piece.x_from,
            height - AXIS,
            AXIS - 10.0
        );
        taken.push((centre - half, centre + half));
    }
    taken
}

/// Draws the ticks and their elapsed-time labels along the top, leaving out a label that would
/// overlap another or the words of an idle band (`taken`).
fn draw_axis(out: &mut String, scale: &TimeScale, height: f64, taken: &[(f64, f64)]) {
    let step = scale.step;
    let mut last_label_end = f64::MIN;
    out.push_str("<g class=\"axis\">");
    for piece in scale.pieces.iter().filter(|piece| !piece.idle) {
        let mut tick = (piece.from + step - 1).div_euclid(step) * step;
        while tick <= piece.to {
            let x = scale.x(tick);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{height:.1}\"/>",
                AXIS - 4.0
            );
            let label = elapsed_label(tick, step);
            let (left, right) = (x - text_width(&label) / 2.0, x + text_width(&label) / 2.0);
            let overlaps = taken
                .iter()
                .any(|(from, to)| left < to + 8.0 && right + 8.0 > *from);
            if left > last_label_end + 8.0 && right <= WIDTH && !overlaps {
                let _ = write!(
                    out,
                    "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
                    AXIS - 10.0
                );
                last_label_end = right;
            }
            tick += step;
        }
    }
    out.push_str("</g>");
}

/// Draws each fix round's start as a dashed line across every lane.
fn draw_rounds(
    out: &mut String,
    lanes: &RunLanes,
    scale: &TimeScale,
    micros: &dyn Fn(Timestamp) -> i64,
    height: f64,
) {
    for round in lanes.rounds() {
        let x = scale.x(micros(round.at));
        let _ = write!(
            out,
            "<g class=\"round-line\"><title>{}</title><line x1=\"{x:.1}\" y1=\"{AXIS}\" x2=\"{x:.1}\" y2=\"{height:.1}\"/></g>",
            escape(&round.detail)
        );
    }
}

/// Returns the lanes in the chart's order: phases, goal, tasks in plan order (any other after,
/// by id), gates in the order they first ran.
fn ordered_lanes<'a>(lanes: &'a RunLanes, task_order: &[&str]) -> Vec<(&'a LaneKey, &'a Lane)> {
    let mut ordered: Vec<(&LaneKey, &Lane)> = lanes.lanes().iter().collect();
    let rank = |key: &LaneKey, lane: &Lane| match key {
        LaneKey::Phases => (0, 0, 0),
        LaneKey::Goal => (1, 0, 0),
        LaneKey::Task(task) => {
            let planned = task_order.iter().position(|id| id == task);
            (2, planned.map_or(1, |_| 0), planned.unwrap_or(0) as u64)
        }
        LaneKey::Gate { .. } => (3, 0, lane.first_seq),
    };
    // Stable: tasks not in the plan keep the map's order (by id).
    ordered.sort_by_key(|(key, lane)| rank(key, lane));
    ordered
}

/// Returns how a lane is named beside it.
fn lane_label(key: &LaneKey) -> String {
    match key {
        LaneKey::Phases => "phase".to_owned(),
        LaneKey::Goal => "goal".to_owned(),
        LaneKey::Task(task) => task.clone(),
        LaneKey::Gate { gate, target } => format!("gate {gate} · {target}"),
    }
}

fn lane_height(key: &LaneKey) -> f64 {
    if *key == LaneKey::Goal {
        GOAL_LANE
    } else {
        LANE
    }
}

/// Returns every stretch of time something happened in, in microseconds from the start: the
/// tasks' and gates' bars (one still open runs to the last event) and every mark. Phases are
/// left out: they cover the whole run, waiting included, and waiting is what may be shortened.
fn busy_intervals(lanes: &RunLanes, micros: &dyn Fn(Timestamp) -> i64) -> Vec<(i64, i64)> {
    let last = lanes.last().map_or(0, micros);
    let mut busy = vec![(0, 0), (last, last)];
    for (key, lane) in lanes.lanes() {
        if *key == LaneKey::Phases {
            continue;
        }
        for bar in &lane.bars {
            let end = bar.end.map_or(last, micros);
            busy.push((micros(bar.start), end));
        }
        busy.extend(
            lane.marks
                .iter()
                .map(|mark| (micros(mark.at), micros(mark.at))),
        );
    }
    busy.extend(
        lanes
            .rounds()
            .iter()
            .map(|round| (micros(round.at), micros(round.at))),
    );
    busy
}

/// Returns the microseconds from `from` to `to` (negative when `to` is earlier).
fn micros_between(from: Timestamp, to: Timestamp) -> i64 {
    (to.instant() - from.instant())
        .num_microseconds()
        .unwrap_or(i64::MAX)
}

/// One stretch of the axis: time `from..=to` drawn over `x_from..=x_to`.
#[derive(Clone, Debug, PartialEq)]
struct Piece {
    from: i64,
    to: i64,
    x_from: f64,
    x_to: f64,
    /// Whether the stretch is idle time drawn shorter than the rest's scale.
    idle: bool,
}

/// Where an instant is drawn: linear over the busy stretches, each long idle stretch drawn
/// [`IDLE_WIDTH`] wide.
#[derive(Clone, Debug, PartialEq)]
struct TimeScale {
    pieces: Vec<Piece>,
    /// The distance between two ticks of the axis, in microseconds.
    step: i64,
}

impl TimeScale {
    fn new(mut busy: Vec<(i64, i64)>, span: i64) -> TimeScale {
        busy.sort_unstable();
        let mut idle: Vec<(i64, i64)> = Vec::new();
        let mut reached = 0;
        for (start, end) in busy {
            let gap = start - reached;
            if gap > IDLE_MIN_MICROS && gap.saturating_mul(3) > span {
                idle.push((reached, start));
            }
            reached = reached.max(end);
        }
        let idle_time: i64 = idle.iter().map(|(from, to)| to - from).sum();
        // A run that took no time at all still gets an axis of one millisecond.
        let active = (span - idle_time).max(1_000);
        let active_width = PLOT_RIGHT - PLOT_LEFT - IDLE_WIDTH * idle.len() as f64;
        let per_micro = active_width / active as f64;
        let mut pieces = Vec::new();
        let (mut from, mut x) = (0, PLOT_LEFT);
        for (idle_from, idle_to) in idle
            .into_iter()
            .chain([(span.max(active), span.max(active))])
        {
            let x_to = x + (idle_from - from) as f64 * per_micro;
            pieces.push(Piece {
                from,
                to: idle_from,
                x_from: x,
                x_to,
                idle: false,
            });
            if idle_to > idle_from {
                pieces.push(Piece {
                    from: idle_from,
                    to: idle_to,
                    x_from: x_to,
                    x_to: x_to + IDLE_WIDTH,
                    idle: true,
                });
            }
            (from, x) = (
                idle_to,
                x_to + if idle_to > idle_from { IDLE_WIDTH } else { 0.0 },
            );
        }
        TimeScale {
            pieces,
            step: tick_step(active),
        }
    }

    /// Returns where the instant `micros` after the start is drawn.
    fn x(&self, micros: i64) -> f64 {
        let piece = self
            .pieces
            .iter()
            .find(|piece| micros <= piece.to)
            .or(self.pieces.last());
        match piece {
            Some(piece) if piece.to > piece.from => {
                let share = (micros - piece.from) as f64 / (piece.to - piece.from) as f64;
                piece.x_from + share.clamp(0.0, 1.0) * (piece.x_to - piece.x_from)
            }
            Some(piece) => piece.x_from,
            None => PLOT_LEFT,
        }
    }
}

/// Returns a round tick distance giving about eight ticks over `active` microseconds.
fn tick_step(active: i64) -> i64 {
    const STEPS: [i64; 27] = [
        1_000,
        2_000,
        5_000,
        10_000,
        20_000,
        50_000,
        100_000,
        200_000,
        500_000,
        1_000_000,
        2_000_000,
        5_000_000,
        10_000_000,
        15_000_000,
        30_000_000,
        60_000_000,
        120_000_000,
        300_000_000,
        600_000_000,
        900_000_000,
        1_800_000_000,
        3_600_000_000,
        7_200_000_000,
        10_800_000_000,
        21_600_000_000,
        43_200_000_000,
        86_400_000_000,
    ];
    let wanted = active / 8;
    STEPS
        .iter()
        .copied()
        .find(|step| *step >= wanted)
        .unwrap_or_else(|| (wanted / 86_400_000_000 + 1) * 86_400_000_000)
}

/// Returns a tick's label: milliseconds for a fine axis, else seconds or a clock of elapsed time.
fn elapsed_label(micros: i64, step: i64) -> String {
    let seconds = micros / 1_000_000;
    match () {
        _ if step < 1_000_000 => format!("{} ms", micros / 1_000),
        _ if seconds < 60 => format!("{seconds} s"),
        _ if seconds < 3_600 => format!("{}:{:02}", seconds / 60, seconds % 60),
        _ if seconds < 86_400 => format!(
            "{}:{:02}:{:02}",
            seconds / 3_600,
            seconds / 60 % 60,
            seconds % 60
        ),
        _ => format!(
            "{} d {}:{:02}",
            seconds / 86_400,
            seconds / 3_600 % 24,
            seconds / 60 % 60
        ),
    }
}

/// Returns a duration for people: `250 ms`, `12 s`, `5 min 3 s`, `2 h 14 min`, `3 d 4 h`.
pub fn duration_words(micros: i64) -> String {
    let seconds = micros / 1_000_000;
    match () {
        _ if seconds < 1 => format!("{} ms", micros / 1_000),
        _ if seconds < 60 => format!("{seconds} s"),
        _ if seconds < 3_600 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ if seconds < 86_400 => format!("{} h {} min", seconds / 3_600, seconds / 60 % 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds / 3_600 % 24),
    }
}

/// Returns about how wide `text` is drawn in the chart's 11px type.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        Event, GoalPaused, GoalResumed, Phase, PhaseEntered, RecordedEvent, TaskId, TaskStatus,
        TaskTransitioned,
    };

    #[test]
    fn a_scale_without_idle_stretches_is_linear_over_the_plot() {
        let scale = TimeScale::new(vec![(0, 0), (0, 100_000), (200_000, 260_000)], 260_000);
        assert_eq!(scale.pieces.len(), 1);
        assert_eq!(scale.x(0), PLOT_LEFT);
        assert_eq!(scale.x(260_000), PLOT_RIGHT);
        assert!((scale.x(130_000) - (PLOT_LEFT + PLOT_RIGHT) / 2.0).abs() < 1e-9);
        assert_eq!(scale.step, 50_000);
    }

    #[test]
    fn a_long_idle_stretch_is_drawn_narrow_and_the_rest_keeps_one_scale() {
        let hour = 3_600_000_000;
        let minute = 60_000_000;
        // Ten minutes of work, a day of waiting, ten more minutes.
        let busy = vec![
            (0, 10 * minute),
            (10 * minute + 24 * hour, 20 * minute + 24 * hour),
        ];
        let scale = TimeScale::new(busy, 20 * minute + 24 * hour);
        let idle: Vec<&Piece> = scale.pieces.iter().filter(|piece| piece.idle).collect();
        assert_eq!(idle.len(), 1);
        assert_eq!(idle[0].x_to - idle[0].x_from, IDLE_WIDTH);
        let first = scale.x(10 * minute) - scale.x(0);
        let second = scale.x(20 * minute + 24 * hour) - scale.x(10 * minute + 24 * hour);
        assert!((first - second).abs() < 1e-6, "{first} {second}");
        assert!((scale.x(20 * minute + 24 * hour) - PLOT_RIGHT).abs() < 1e-6);
        assert_eq!(duration_words(24 * hour), "1 d 0 h");
    }

    #[test]
    fn a_run_that_took_no_time_still_has_an_axis() {
        let scale = TimeScale::new(vec![(0, 0)], 0);
        assert_eq!(scale.x(0), PLOT_LEFT);
        assert_eq!(scale.step, 1_000);
    }

    /// Returns the events `(seconds after the start, event)` as a log would hold them.
    fn events(timed: Vec<(i64, Event)>) -> RunLanes {
        let start = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let mut lanes = RunLanes::default();
        for (seq, (seconds, event)) in timed.into_iter().enumerate() {
            lanes.observe(&RecordedEvent {
                seq: seq as u64,
                at: Timestamp::new(start + chrono::TimeDelta::seconds(seconds)),
                event,
            });
        }
        lanes
    }

    fn phase(phase: Phase) -> Event {
        Event::PhaseEntered(PhaseEntered { phase })
    }

    fn moved(task: &str, from: TaskStatus, to: TaskStatus) -> Event {
        Event::TaskTransitioned(TaskTransitioned {
            task_id: TaskId::new(task),
            from,
            to,
            reason: None,
        })
    }

    #[test]
    fn a_day_of_waiting_inside_a_phase_is_shortened_and_says_how_long_it_was() {
        let day = 86_400;
        let lanes = events(vec![
            (0, phase(Phase::Planning)),
            (60, phase(Phase::Executing)),
            (
                60,
                moved("slice-1", TaskStatus::Pending, TaskStatus::Running),
            ),
            (300, Event::GoalPaused(GoalPaused { reason: None })),
            (360, Event::GoalResumed(GoalResumed { note: None })),
            (600, moved("slice-1", TaskStatus::Running, TaskStatus::Done)),
            (600, phase(Phase::Integrating)),
            (
                600 + day,
                moved("review", TaskStatus::Pending, TaskStatus::Done),
            ),
        ]);
        let svg = timeline_svg(&lanes, &[]);
        assert_eq!(svg.matches("<g class=\"idle-band\">").count(), 1, "{svg}");
        assert!(svg.contains("<title>idle for 1 d 0 h: shortened to fit</title>"));
        for (class, label) in [
            ("ph-planning", Some("planning")),
            ("ph-executing", Some("executing")),
            ("paused", Some("paused")),
            // Mostly the shortened day: too narrow for its name, which its tooltip gives.
            ("ph-integrating", None),
        ] {
            assert!(
                svg.contains(&format!("<g class=\"bar {class}\">")),
                "{class}"
            );
            if let Some(label) = label {
                assert!(svg.contains(&format!(">{label}</text>")), "{label}");
            }
        }
        assert!(svg.contains("<g class=\"bar ok\"><title>slice-1 went pending → running\nslice-1 went running → done</title>"));
        assert!(
            svg.contains("<g class=\"mark ok\">"),
            "review's move is a mark: {svg}"
        );
        // The phase still going when the log ends is drawn to its end, not as an open run.
        assert!(!svg.contains(" open\""));
    }

    #[test]
    fn ticks_are_labelled_at_the_axis_resolution() {
        assert_eq!(elapsed_label(150_000, 50_000), "150 ms");
        assert_eq!(elapsed_label(30_000_000, 5_000_000), "30 s");
        assert_eq!(elapsed_label(90_000_000, 30_000_000), "1:30");
        assert_eq!(elapsed_label(3_723_000_000, 600_000_000), "1:02:03");
    }
}
