//! Adopting a copy of a log made elsewhere (another clone that fetched it): the copy must verify
//! whole, and the log held here must be a byte prefix of it, so the only change ever made here is
//! appending the events the copy has beyond it. A copy that rewrites history is refused.
//!
//! Trust on first use: once the head held here is signed, a copy is adopted only when its own head
//! is signed by the same key and its tree is consistent with the held one (a consistency proof
//! from the held tree head to the copy's); the copy's signed checkpoint then replaces the held one.
//!
//! The copy's artifacts are brought in first (each checked against its name), then the new bytes
//! are appended and synced under the writer's lock, then the checkpoint is replaced, as an append
//! would. Must not rewrite or shorten a stored line.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use crate::log::artifacts::ContentHash;
use crate::log::chain::Head;
use crate::log::chain::Position;
use crate::log::checkpoint::{read_checkpoint, write_checkpoint, Checkpoint, CheckpointError};
use crate::log::io::{LogIo, OsIo};
use crate::log::lock::LogLock;
use crate::log::merkle::{consistency_proof, leaf_hash, verify_consistency, RootBuilder};
use crate::log::paths::LogPaths;
use crate::log::reader::{LogReader, ReadError};
use crate::log::verify::{verify_log, VerifyError, VerifyOptions};

/// What adopting a copy did to the log held here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adopted {
    /// There was no log here: the copy is the log now.
    New { head: Head },
    /// The log here was a prefix of the copy: the copy's later events were appended.
    Extended { from: Option<Head>, to: Head },
    /// The copy holds the same events as the log here.
    Same { head: Option<Head> },
    /// The log here holds every event of the copy and more: nothing changed.
    Ahead { copy: Option<Head> },
}

/// The copy could not be adopted; the log here is as it was.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("the copy of {log} does not verify: {detail}")]
    CopyDamaged { log: String, detail: String },
    #[error("the copy of {log} rewrites its history: the two differ from event seq {seq} on")]
    Diverged { log: String, seq: u64 },
    #[error("{log} does not end with a whole line: repair it first (`omk log repair`)")]
    TornHere { log: String },
    #[error("the copy of {log} is not trusted: {detail}")]
    Untrusted { log: String, detail: String },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    ReadCopy(#[from] ReadError),
    #[error("cannot adopt into {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Adopts the verified copy at `copy` into the log at `here` (created when missing).
pub fn adopt(here: &LogPaths, copy: &LogPaths) -> Result<Adopted, AdoptError> {
    let log = here.log().display().to_string();
    let report = verify_log(copy, VerifyOptions::all_cores())?;
    if let Some(finding) = report.first_error() {
        return Err(AdoptError::CopyDamaged {
            log,
            detail: finding.message.clone(),
        });
    }
    let io_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| AdoptError::Io { path, source }
    };
    let copied = fs::read(copy.log()).map_err(io_error(copy.log()))?;
    fs::create_dir_all(here.dir()).map_err(io_error(here.dir()))?;
    bring_artifacts(&copy.artifacts(), &here.artifacts())?;
    let _lock = LogLock::exclusive(here, true).map_err(io_error(here.log()))?;
    let held = fs::read(here.log()).map_err(io_error(here.log()))?;
    if !held.is_empty() && !held.ends_with(b"\n") {
        return Err(AdoptError::TornHere { log });
    }
    let held_head = head_of(&held);
    if held == copied {
        return Ok(Adopted::Same { head: held_head });
    }
    if held.starts_with(&copied) {
        return Ok(Adopted::Ahead { copy: report.head });
    }
    if !copied.starts_with(&held) {
        let common = held.iter().zip(&copied).take_while(|(a, b)| a == b).count();
        let seq = held[..common].iter().filter(|byte| **byte == b'\n').count() as u64;
        return Err(AdoptError::Diverged { log, seq });
    }
    let Some(to) = report.head else {
        return Ok(Adopted::Same { head: held_head });
    };
    let checkpoint = checkpoint_to_adopt(here, copy, &log)?;
    let mut file = OpenOptions::new()
        .append(true)
        .open(here.log())
        .map_err(io_error(here.log()))?;
    let mut io = OsIo;
    io.write_all(&mut file, &copied[held.len()..])
        .and_then(|()| io.sync(&file))
        .map_err(io_error(here.log()))?;
    write_checkpoint(&mut io, here, &checkpoint).map_err(io_error(&here.checkpoint()))?;
    Ok(match held_head {
        None => Adopted::New { head: to },
        from => Adopted::Extended { from, to },
    })
}

/// Returns the checkpoint the log here takes on once the copy is adopted: the copy's own when it
/// names the copy's last event (so its signature comes along), else one made from its tree.
/// Refuses a copy that breaks the trust placed in the head held here (see the module).
fn checkpoint_to_adopt(
    here: &LogPaths,
    copy: &LogPaths,
    log: &str,
) -> Result<Checkpoint, AdoptError> {
    let mut reader = LogReader::open(copy)?;
    let mut lines = Vec::new();
    for raw in reader.by_ref() {
        lines.push(raw?.hash());
    }
    let end: Position = reader.position();
    let leaves: Vec<_> = lines.iter().map(leaf_hash).collect();
    let tree = RootBuilder::over_lines(&lines);
    let made = Checkpoint::at(end, &tree).ok_or_else(|| AdoptError::Untrusted {
        log: log.to_owned(),
        detail: "the copy holds no complete event".to_owned(),
    })?;
    let theirs = read_checkpoint(copy)?
        .filter(|theirs| theirs.len == made.len && theirs.tree == made.tree)
        .unwrap_or(made);
    let Some(held) = read_checkpoint(here)? else {
        return Ok(theirs);
    };
    let (Some(signed), Some(held_head)) = (&held.signed, held.tree_head()) else {
        return Ok(theirs);
    };
    let untrusted = |detail: String| AdoptError::Untrusted {
        log: log.to_owned(),
        detail,
    };
    let new_head = theirs.tree_head().unwrap_or(held_head);
    let proof = consistency_proof(&leaves, held_head.size as usize).unwrap_or_default();
    if !verify_consistency(
        held_head.size,
        new_head.size,
        &held_head.root,
        &new_head.root,
        &proof,
    ) {
        return Err(untrusted(format!(
            "its tree of {} events is not consistent with the signed head held here ({} events, root {}…)",
            new_head.size,
            held_head.size,
            &held_head.root.to_hex()[..12]
        )));
    }
    match &theirs.signed {
        Some(their_signature) if their_signature.key_id == signed.key_id => Ok(theirs),
        Some(their_signature) => Err(untrusted(format!(
            "its head is signed by key {}…, but this goal's heads were signed by key {}…",
            &their_signature.key_id[..12.min(their_signature.key_id.len())],
            &signed.key_id[..12.min(signed.key_id.len())]
        ))),
        None => Err(untrusted(format!(
            "its head is not signed, but this goal's heads were signed by key {}…",
            &signed.key_id[..12.min(signed.key_id.len())]
        ))),
    }
}

/// Copies every artifact of `from` that `to` lacks, each only if its bytes hash to its name.
fn bring_artifacts(from: &Path, to: &Path) -> Result<(), AdoptError> {
    let entries = match fs::read_dir(from) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(AdoptError::Io {
                path: from.display().to_string(),
                source,
            })
        }
    };
    fs::create_dir_all(to).map_err(|source| AdoptError::Io {
        path: to.display().to_string(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let target = to.join(&name);
        if target.exists() {
            continue;
        }
        let Ok(bytes) = fs::read(entry.path()) else {
            continue;
        };
        if ContentHash::of(&bytes).to_hex() != name {
            continue;
        }
        // A temporary file of its own, then a rename: a reader never sees half an artifact,
        // and two adoptions at once each write their own.
        let io_error = |source| AdoptError::Io {
            path: target.display().to_string(),
            source,
        };
        let mut temporary = tempfile::NamedTempFile::new_in(to).map_err(io_error)?;
        std::io::Write::write_all(&mut temporary, &bytes).map_err(io_error)?;
        temporary
            .persist(&target)
            .map_err(|error| io_error(error.error))?;
    }
    Ok(())
}

/// Returns the `seq` and `hash` of the last line of `log`, a log of whole lines.
fn head_of(log: &[u8]) -> Option<Head> {
    let body = log.strip_suffix(b"\n")?;
    let start = body
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |at| at + 1);
    let line = crate::log::line::check_line(&body[start..]).ok()?;
    Some(Head {
        seq: line.seq,
        hash: line.hash,
    })
}
