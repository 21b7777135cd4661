//! Writing the projections beside a goal's log: the snapshot, `task-graph.json`, and the
//! human-readable copies of the planning documents.
//!
//! Every file is written whole through a temporary file and a rename, so a reader never sees
//! half of one. A projection is skipped when the log has moved on since the fold that made
//! it, so a slower writer never replaces a newer projection with an older one.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::project::proof::proof;
use crate::project::snapshot::Snapshot;
use crate::project::task_graph::task_graph_view;
use crate::project::to_json;
use crate::store::{io_error, GoalDir, Loaded, StoreError};

/// The snapshot's file name.
pub const SNAPSHOT_FILE: &str = "snapshot.json";
/// The task graph projection's file name.
pub const TASK_GRAPH_FILE: &str = "task-graph.json";
/// The proof projection's file name.
pub const PROOF_FILE: &str = "proof.json";
/// The planning artifacts copied beside the log under their own names.
const DOCUMENT_COPIES: [&str; 3] = ["prd.md", "technical-plan.md", "test-spec.md"];

/// Writes every projection of `loaded`.
pub fn write_all(goal: &GoalDir, loaded: &Loaded) -> Result<(), StoreError> {
    if !still_current(goal, loaded) {
        return Ok(());
    }
    remove_stale_temporaries(goal.dir(), STALE_TEMPORARY);
    remove_stale_temporaries(&goal.paths().artifacts(), STALE_CAPTURE);
    write_snapshot(goal, loaded)?;
    let graph = to_json(&task_graph_view(&loaded.state, loaded.head()));
    replace_projection(&goal.dir.join(TASK_GRAPH_FILE), graph.as_bytes())?;
    let proof = to_json(&proof(&loaded.state, loaded.head(), loaded.tree_head()));
    replace_projection(&goal.dir.join(PROOF_FILE), proof.as_bytes())?;
    let store = goal.artifacts();
    for name in DOCUMENT_COPIES {
        let latest = loaded
            .state
            .artifacts
            .iter()
            .rev()
            .find(|recorded| recorded.artifact.name == name);
        if let Some(recorded) = latest {
            let source = store.path_of(&recorded.artifact.hash);
            let bytes = fs::read(&source).map_err(|error| io_error(&source, error))?;
            replace_projection(&goal.dir.join(name), &bytes)?;
        }
    }
    Ok(())
}

/// Writes the snapshot of `loaded`.
pub fn write_snapshot(goal: &GoalDir, loaded: &Loaded) -> Result<(), StoreError> {
    let Some(snapshot) = Snapshot::new(&loaded.state, loaded.position, &loaded.tree) else {
        return Ok(());
    };
    replace_projection(&goal.dir.join(SNAPSHOT_FILE), to_json(&snapshot).as_bytes())
}

/// How old a projection's temporary file must be to be a leftover: writing one takes
/// milliseconds, so a file this old belongs to a writer that crashed.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(600);

/// How old an artifact's temporary file must be to be a leftover: a capture streams into one
/// for as long as its process runs, and no process may run longer than the 7-day timeout cap.
const STALE_CAPTURE: std::time::Duration = std::time::Duration::from_secs(8 * 24 * 3600);

/// Removes the temporary files (`.tmpXXXXXX`) crashed writers left in `dir`, once older than
/// `stale`.
fn remove_stale_temporaries(dir: &Path, stale: std::time::Duration) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let temporary = entry.file_name().to_string_lossy().starts_with(".tmp");
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > stale));
        if temporary && stale && entry.file_type().is_ok_and(|kind| kind.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Returns whether the log still ends where `loaded` was folded to.
fn still_current(goal: &GoalDir, loaded: &Loaded) -> bool {
    fs::metadata(goal.paths().log()).is_ok_and(|meta| meta.len() == loaded.position.offset)
}

/// Replaces the projection at `path` with `bytes` (through a temporary file and a rename), unless
/// it already holds them.
pub fn replace_projection(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|error| io_error(dir, error))?;
    temp.write_all(bytes)
        .map_err(|error| io_error(path, error))?;
    temp.persist(path)
        .map_err(|error| io_error(path, error.error))?;
    Ok(())
}
