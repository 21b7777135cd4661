//! JSON Schemas of every user-visible format, generated from the Rust types.
//!
//! `schemas/` holds the generated files; a test fails when one drifts from the types.
//! Owns the documentation type of a stored line, which the reader itself parses by borrowing.

use schemars::{JsonSchema, Schema};

use crate::log::checkpoint::Checkpoint;
use crate::log::hash::EventHash;
use crate::log::line::Batch;
use crate::log::verify::VerifyReport;
use crate::project::budget::{BudgetView, CommandResult};
use crate::project::glance::{Glance, GoalList};
use crate::project::proof::{Proof, Statement};
use crate::project::show::ShowView;
use crate::project::snapshot::Snapshot;
use crate::project::task_graph::TaskGraphView;
use crate::shell::planner::{PlannerReply, PlannerRequest};
use crate::state::GoalState;

/// One stored line of an omk event log, format version 1.
///
/// Written as compact JSON in this field order, then `\n`. `hash` must be the last field: it is
/// the BLAKE3 derive-key hash, under the context "omk 2026-11-24 event-log v1 line hash", of every
/// byte of the line before `,"hash":`. See docs/log-format.md.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, rename = "EventLine")]
#[allow(dead_code)] // Only its schema is used: the reader parses lines by borrowing.
struct EventLine {
    /// The format version: 1.
    #[schemars(range(min = 1, max = 1))]
    v: u64,
    /// The event's position: 0 for the first event, then each next integer.
    seq: u64,
    /// When the writer appended the batch: RFC 3339 in UTC with a `Z`, e.g. `2026-11-24T14:00:00.000000Z`.
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"))]
    ts: String,
    /// The writer-chosen event id; a retried batch is recognised by its ids.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._:-]{1,64}$"))]
    id: String,
    /// The event kind, past tense in snake_case, e.g. `run_started`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
    kind: String,
    /// `[index, len]`: the event's place in the batch it was appended with; a batch is all or nothing.
    batch: Batch,
    /// The payload: a JSON object whose schema depends on `kind` (schemas/events/).
    data: serde_json::Map<String, serde_json::Value>,
    /// The `hash` of the previous event; 64 zeros for seq 0.
    prev: EventHash,
    /// The hash of this line's bytes before `,"hash":`.
    hash: EventHash,
}

/// Returns every schema as (path under `schemas/`, schema), in a stable order.
pub fn all_schemas() -> Vec<(String, Schema)> {
    let mut schemas = vec![
        (
            "event-line.schema.json".to_owned(),
            schema_of::<EventLine>(),
        ),
        (
            "head-checkpoint.schema.json".to_owned(),
            schema_of::<Checkpoint>(),
        ),
        (
            "verify-report.schema.json".to_owned(),
            schema_of::<VerifyReport>(),
        ),
        (
            "goal-state.schema.json".to_owned(),
            schema_of::<GoalState>(),
        ),
        (
            "task-graph.schema.json".to_owned(),
            schema_of::<TaskGraphView<'static>>(),
        ),
        ("snapshot.schema.json".to_owned(), schema_of::<Snapshot>()),
        (
            "goal-status.schema.json".to_owned(),
            schema_of::<Glance<'static>>(),
        ),
        (
            "goal-list.schema.json".to_owned(),
            schema_of::<GoalList<'static>>(),
        ),
        (
            "goal-budget.schema.json".to_owned(),
            schema_of::<BudgetView<'static>>(),
        ),
        (
            "goal-command-result.schema.json".to_owned(),
            schema_of::<CommandResult<'static>>(),
        ),
        (
            "goal-show.schema.json".to_owned(),
            schema_of::<ShowView<'static>>(),
        ),
        (
            "proof.schema.json".to_owned(),
            schema_of::<Proof<'static>>(),
        ),
        (
            "proof-in-toto.schema.json".to_owned(),
            schema_of::<Statement<'static>>(),
        ),
        (
            "doctor.schema.json".to_owned(),
            schema_of::<crate::project::checkup::Checkup>(),
        ),
        (
            "log-proof.schema.json".to_owned(),
            schema_of::<crate::log::proof::LogProof>(),
        ),
        (
            "dsse-envelope.schema.json".to_owned(),
            schema_of::<crate::trust::Envelope>(),
        ),
        (
            "pull-request.schema.json".to_owned(),
            schema_of::<crate::project::pull_request::PullRequest>(),
        ),
        (
            "planner-reply.schema.json".to_owned(),
            schema_of::<PlannerReply>(),
        ),
        (
            "planner-request.schema.json".to_owned(),
            schema_of::<PlannerRequest<'static>>(),
        ),
    ];
    for (kind, schema) in crate::event::payload_schemas(&settings()) {
        schemas.push((format!("events/{kind}.schema.json"), schema));
    }
    schemas
}

fn settings() -> schemars::generate::SchemaSettings {
    schemars::generate::SchemaSettings::draft2020_12()
}

fn schema_of<T: JsonSchema>() -> Schema {
    settings().into_generator().into_root_schema_for::<T>()
}

/// Returns the schema rendered as it is stored: pretty JSON with a final newline.
pub fn render(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}
