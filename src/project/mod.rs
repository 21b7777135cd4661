//! Pure projections: views of a goal's state for people and scripts, the task-graph file and
//! the snapshot. Every view names the head (`seq`, `hash`) of the log it was derived from.
//!
//! Must not read the clock or the filesystem: ages are computed from a `now` passed in, and
//! writing a projection to disk is the shell's job. The same state and head always give the
//! same bytes.

pub mod budget;
pub mod checkup;
pub mod derived;
pub mod glance;
pub mod proof;
pub mod pull_request;
pub mod report;
pub mod show;
pub mod snapshot;
pub mod task_graph;
pub mod timeline;

/// Returns `value` as pretty JSON with a final newline: the form of every JSON projection.
pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain data structs to a String cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
