//! The task graph drawn as an inline SVG: one box per task in its status's colour, an arrow
//! from each dependency to the task that waits for it, tasks laid out in columns by depth
//! (the longest chain of dependencies before them).
//!
//! Pure layout of the folded graph. Must not write a task's text but through `html::escape`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::event::{TaskKind, TaskStatus};
use crate::project::report::html::{clip, escape};
use crate::state::Task;

const NODE_WIDTH: f64 = 180.0;
const NODE_HEIGHT: f64 = 48.0;
const COLUMN_GAP: f64 = 44.0;
const ROW_GAP: f64 = 14.0;
const MARGIN: f64 = 12.0;

/// Returns the CSS class of a task status's colour.
pub fn status_class(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Pending => "st-pending",
        TaskStatus::Running => "st-running",
        TaskStatus::Done => "st-done",
        TaskStatus::Failed => "st-failed",
        TaskStatus::Blocked => "st-blocked",
        TaskStatus::Cancelled => "st-cancelled",
    }
}

/// Returns the graph of `tasks` (in plan order) as an `<svg>` element, or nothing when there
/// are no tasks.
pub fn task_graph_svg(tasks: &[Task]) -> String {
    if tasks.is_empty() {
        return String::new();
    }
    let places = layout(tasks);
    let columns = places.iter().map(|place| place.0).max().unwrap_or(0) + 1;
    let rows = places.iter().map(|place| place.1).max().unwrap_or(0) + 1;
    let width = 2.0 * MARGIN + columns as f64 * NODE_WIDTH + (columns - 1) as f64 * COLUMN_GAP;
    let height = 2.0 * MARGIN + rows as f64 * (NODE_HEIGHT + ROW_GAP) - ROW_GAP;
    let corner = |(column, row): (usize, usize)| {
        (
            MARGIN + column as f64 * (NODE_WIDTH + COLUMN_GAP),
            MARGIN + row as f64 * (NODE_HEIGHT + ROW_GAP),
        )
    };
    let index: BTreeMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(at, task)| (task.spec.id.as_str(), at))
        .collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Task graph\">"
    );
    for (at, task) in tasks.iter().enumerate() {
        let (x, y) = corner(places[at]);
        for dependency in &task.spec.depends_on {
            let Some(&from) = index.get(dependency.as_str()) else {
                continue;
            };
            let (from_x, from_y) = corner(places[from]);
            let (x1, y1) = (from_x + NODE_WIDTH, from_y + NODE_HEIGHT / 2.0);
            let (x2, y2) = (x - 2.0, y + NODE_HEIGHT / 2.0);
            let bend = (x2 - x1) / 2.0;
            // The curve ends level, so its arrowhead always points right.
            let _ = write!(
                svg,
                "<g class=\"edge\"><title>{} waits for {}</title><path d=\"M{x1:.1},{y1:.1}C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}\"/><path class=\"arrow-head\" d=\"M{:.1},{:.1}L{x2:.1},{y2:.1}L{:.1},{:.1}z\"/></g>",
                escape(&task.spec.id),
                escape(dependency),
                x1 + bend,
                x2 - bend,
                x2 - 8.0,
                y2 - 4.5,
                x2 - 8.0,
                y2 + 4.5
            );
        }
    }
    for (at, task) in tasks.iter().enumerate() {
        let (x, y) = corner(places[at]);
        let kind = if task.spec.kind == TaskKind::Implementation {
            "slice"
        } else {
            "controller"
        };
        let sub = format!("{} · {}", task.status.name(), task.spec.title);
        let _ = write!(
            svg,
            "<g class=\"node {} {kind}\"><title>{}: {} ({}, {})</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{NODE_WIDTH}\" height=\"{NODE_HEIGHT}\" rx=\"8\"/><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\"/><text class=\"node-id\" x=\"{:.1}\" y=\"{:.1}\">{}</text><text class=\"node-sub\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            status_class(task.status),
            escape(&task.spec.id),
            escape(&task.spec.title),
            task.status.name(),
            escape(&task.spec.owner_role),
            x + 14.0,
            y + 18.0,
            x + 26.0,
            y + 22.0,
            escape(&clip(&task.spec.id, 20)),
            x + 14.0,
            y + 38.0,
            escape(&clip(&sub, 27))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Returns each task's (column, row): its column is its depth; within a column, tasks sit in
/// the order of their dependencies' rows (fewer crossing arrows), then in plan order.
fn layout(tasks: &[Task]) -> Vec<(usize, usize)> {
    let index: BTreeMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(at, task)| (task.spec.id.as_str(), at))
        .collect();
    let dependencies: Vec<Vec<usize>> = tasks
        .iter()
        .map(|task| {
            task.spec
                .depends_on
                .iter()
                .filter_map(|id| index.get(id.as_str()).copied())
                .collect()
        })
        .collect();
    let depths = depths(&dependencies);
    let mut places = vec![(0, 0); tasks.len()];
    let columns = depths.iter().max().map_or(0, |deepest| deepest + 1);
    for column in 0..columns {
        let mut members: Vec<(f64, usize)> = (0..tasks.len())
            .filter(|at| depths[*at] == column)
            .map(|at| {
                let rows: Vec<f64> = dependencies[at]
                    .iter()
                    .map(|dependency| places[*dependency].1 as f64)
                    .collect();
                let centre = if rows.is_empty() {
                    0.0
                } else {
                    rows.iter().sum::<f64>() / rows.len() as f64
                };
                (centre, at)
            })
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (row, (_, at)) in members.into_iter().enumerate() {
            places[at] = (column, row);
        }
    }
    places
}

/// Returns each task's depth: 0 without dependencies, else one more than its deepest
/// dependency's. A graph the reducer accepted has no cycle; were one there, depths stop
/// growing after as many rounds as there are tasks.
fn depths(dependencies: &[Vec<usize>]) -> Vec<usize> {
    let mut depths = vec![0; dependencies.len()];
    for _ in 0..dependencies.len() {
        let mut changed = false;
        for (at, before) in dependencies.iter().enumerate() {
            let depth = before
                .iter()
                .map(|dependency| depths[*dependency] + 1)
                .max()
                .unwrap_or(0)
                .min(dependencies.len());
            if depth != depths[at] {
                depths[at] = depth;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    depths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_the_longest_chain_of_dependencies() {
        // 0 ← 1 ← 3, 0 ← 2, and 3 also waits for 0 directly.
        let dependencies = vec![vec![], vec![0], vec![0], vec![1, 0]];
        assert_eq!(depths(&dependencies), vec![0, 1, 1, 2]);
    }

    #[test]
    fn a_cycle_does_not_loop_forever() {
        let dependencies = vec![vec![1], vec![0]];
        assert!(depths(&dependencies).iter().all(|depth| *depth <= 2));
    }
}
