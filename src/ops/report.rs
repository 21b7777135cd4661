//! `omk goal report` and `omk replay --format html`: gathers what the report is made of (the
//! goal folded from its log, its events streamed into lanes over time, its artifacts read and
//! checked against their hashes) and renders it with `project::report`; and writes the page
//! to a file whole, through a temporary file and a rename.
//!
//! Must not decide what the page says (the projection does) nor print it (the CLI does).

use std::collections::BTreeMap;
use std::fs::Permissions;
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::event::{DecodeError, RecordedEvent};
use crate::log::artifacts::{ArtifactStore, ContentHash};
use crate::log::LogPaths;
use crate::ops::artifact::{open_checked, LookupError};
use crate::ops::replay::{stream_events, ReplayError};
use crate::project::proof::proof;
use crate::project::report::run_lanes::RunLanes;
use crate::project::report::{
    report_html, ArtifactContent, ReportInput, ARTIFACTS_SHOWN_TOTAL, ARTIFACT_SHOWN_BYTES,
};
use crate::state::GoalState;
use crate::store::{GoalDir, StoreError};

/// The report could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("there is no event seq {seq}: the log ends at seq {last}")]
    PastTheEnd { seq: u64, last: u64 },
    #[error("cannot write the report to {path}: {source}")]
    Write { path: String, source: io::Error },
}

impl From<StoreError> for ReportError {
    fn from(error: StoreError) -> ReportError {
        ReportError::Store(Box::new(error))
    }
}

/// Returns the report of `goal` as one HTML page: as the goal stands, or right after event
/// `through`.
pub fn report(goal: &GoalDir, through: Option<u64>) -> Result<String, ReportError> {
    let loaded = match through {
        Some(seq) => goal.load_through(seq)?,
        None => goal.load()?,
    };
    let head = loaded.head();
    if let Some(seq) = through.filter(|seq| *seq > head.seq) {
        return Err(ReportError::PastTheEnd {
            seq,
            last: head.seq,
        });
    }
    let lanes = run_lanes(&goal.paths(), head.seq)?;
    let artifacts = read_artifacts(&goal.artifacts(), &loaded.state);
    let proof = proof(&loaded.state, head, loaded.tree_head());
    Ok(report_html(&ReportInput {
        state: &loaded.state,
        proof: &proof,
        lanes: &lanes,
        artifacts: &artifacts,
    }))
}

/// Writes `html` to `path` whole: into a temporary file beside it, then renamed over it, so a
/// reader (a browser reloading it) never sees half a page. The file is readable by others, as
/// a page to be served or shared should be (as the umask allows).
pub fn write_report(path: &Path, html: &str) -> Result<(), ReportError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let write = || -> io::Result<()> {
        let mut temp = tempfile::Builder::new()
            .prefix(".omk-report")
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(dir)?;
        temp.write_all(html.as_bytes())?;
        temp.persist(path).map_err(|error| error.error)?;
        Ok(())
    };
    write().map_err(|source| ReportError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Returns the events through `through` folded into lanes over time, streamed from the log.
fn run_lanes(paths: &LogPaths, through: u64) -> Result<RunLanes, ReplayError> {
    let mut lanes = RunLanes::default();
    let mut failure = None;
    let keep = |decoded: Result<RecordedEvent, DecodeError>| decoded;
    stream_events(paths, &keep, |decoded| match decoded {
        Ok(recorded) if recorded.seq > through => ControlFlow::Break(()),
        Ok(recorded) => {
            lanes.observe(&recorded);
            ControlFlow::Continue(())
        }
        Err(error) => {
            failure = Some(error);
            ControlFlow::Break(())
        }
    })?;
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(lanes),
    }
}

/// Returns what `store` holds for each artifact `state` records: the first bytes of each, up to
/// the page's limits, once checked against its hash.
fn read_artifacts(
    store: &ArtifactStore,
    state: &GoalState,
) -> BTreeMap<ContentHash, ArtifactContent> {
    let mut contents = BTreeMap::new();
    let mut room = ARTIFACTS_SHOWN_TOTAL;
    for recorded in &state.artifacts {
        let artifact = &recorded.artifact;
        if contents.contains_key(&artifact.hash) {
            continue;
        }
        let content = if room == 0 {
            ArtifactContent::OverTotal
        } else {
            let limit = room.min(ARTIFACT_SHOWN_BYTES);
            match open_checked(store, &state.goal_id, artifact) {
                Ok(file) => {
                    let mut bytes = Vec::new();
                    match file.take(limit).read_to_end(&mut bytes) {
                        Ok(_) => ArtifactContent::Read {
                            whole: bytes.len() as u64 == artifact.size,
                            bytes,
                        },
                        Err(source) => ArtifactContent::Unreadable {
                            detail: store.error(source).to_string(),
                        },
                    }
                }
                Err(LookupError::Missing { .. }) => ArtifactContent::Missing,
                Err(LookupError::Damaged { detail, .. }) => ArtifactContent::Altered { detail },
                Err(error) => ArtifactContent::Unreadable {
                    detail: error.to_string(),
                },
            }
        };
        if let ArtifactContent::Read { bytes, .. } = &content {
            room = room.saturating_sub(bytes.len() as u64);
        }
        contents.insert(artifact.hash, content);
    }
    contents
}
