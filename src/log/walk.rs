//! Walking a log from a position: every line checked alone, then linked in order.
//!
//! Owns the pipeline shared by verify, the writer's catch-up and repair, including the
//! parallel form: lines hash and parse independently on worker threads, and only the cheap
//! link check runs in file order.
//! Must not decide what a fault means for the caller: it reports where the walk stopped and why.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::{mpsc, Mutex, PoisonError};

use serde::Serialize;

use crate::log::artifacts::{ArtifactRef, ARTIFACT_RECORDED};
use crate::log::chain::{LinkFault, LinkInfo, Linker, Position};
use crate::log::hash::EventHash;
use crate::log::line::{check_line, CheckedLine, LineFault};
use crate::log::scan::{Block, BlockScanner, Scanned};

/// Why a line could not join the chain: alone it is bad, or it does not follow its predecessor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ChainFault {
    Line(LineFault),
    Link(LinkFault),
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainFault::Line(fault) => fault.fmt(f),
            ChainFault::Link(fault) => fault.fmt(f),
        }
    }
}

/// Where a walk stopped on a bad line: the `seq` expected there and the line's byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FaultAt {
    pub seq: u64,
    pub offset: u64,
    pub fault: ChainFault,
}

/// The outcome of a walk.
#[derive(Debug)]
pub(crate) struct Walk {
    /// The linker after the last good line: its complete position and any open batch.
    pub linker: Linker,
    /// The first bad line, which stopped the walk.
    pub fault: Option<FaultAt>,
    /// Without a fault: the offset where reading ended, counting unterminated bytes.
    pub end: u64,
    /// Whether the visitor stopped the walk before the end (nothing after is known).
    pub halted: bool,
}

impl Walk {
    /// Returns the first offset not covered by a complete batch, and how many bytes follow it.
    ///
    /// Those bytes are a torn tail: an unterminated line, or lines of a batch that never ended.
    pub fn torn_tail(&self) -> Option<(u64, u64)> {
        let complete = self.linker.complete().offset;
        (self.fault.is_none() && !self.halted && self.end > complete)
            .then(|| (complete, self.end - complete))
    }
}

/// Returns a line's link information and its checked fields.
pub(crate) fn check_at(offset: u64, line: &[u8]) -> Result<(LinkInfo, CheckedLine<'_>), LineFault> {
    let checked = check_line(line)?;
    let info = LinkInfo {
        seq: checked.seq,
        prev: checked.prev,
        hash: checked.hash,
        batch: checked.batch,
        offset,
        end: offset + line.len() as u64 + 1,
    };
    Ok((info, checked))
}

/// Returns the artifact an `artifact_recorded` line records, or `None` for other kinds.
pub(crate) fn recorded_artifact(
    checked: &CheckedLine<'_>,
) -> Result<Option<ArtifactRef>, LineFault> {
    if checked.kind != ARTIFACT_RECORDED {
        return Ok(None);
    }
    serde_json::from_str(checked.data.get())
        .map(Some)
        .map_err(|error| LineFault::Malformed {
            detail: format!("{ARTIFACT_RECORDED} data: {error}"),
        })
}

/// Every line of a block checked alone, up to the first bad one.
/// What a caller's decoder sees of a line that checked alone: enough to build its own value.
#[derive(Clone, Copy, Debug)]
pub struct LineView<'a> {
    pub seq: u64,
    /// The line's hash (checked).
    pub hash: EventHash,
    pub ts: chrono::DateTime<chrono::Utc>,
    pub kind: &'a str,
    pub data: &'a serde_json::value::RawValue,
}

/// Turns a checked line into the caller's value, on the checker threads.
pub type Decoder<'d, T> = &'d (dyn Fn(LineView<'_>) -> T + Sync);

struct CheckedBlock<T> {
    links: Vec<LinkInfo>,
    artifacts: Vec<(usize, ArtifactRef)>,
    payloads: Vec<T>,
    fault: Option<(u64, LineFault)>,
}

fn check_block<T>(block: &Block, decode: Decoder<'_, T>) -> CheckedBlock<T> {
    let mut checked_block = CheckedBlock {
        links: Vec::with_capacity(block.bytes.len() / 256),
        artifacts: Vec::new(),
        payloads: Vec::with_capacity(block.bytes.len() / 256),
        fault: None,
    };
    for (offset, line) in block.lines() {
        let checked = check_at(offset, line).and_then(|(info, checked)| {
            recorded_artifact(&checked).map(|artifact| (info, artifact, checked))
        });
        match checked {
            Ok((info, artifact, checked)) => {
                checked_block.payloads.push(decode(LineView {
                    seq: checked.seq,
                    hash: checked.hash,
                    ts: checked.ts,
                    kind: &checked.kind,
                    data: checked.data,
                }));
                if let Some(artifact) = artifact {
                    checked_block
                        .artifacts
                        .push((checked_block.links.len(), artifact));
                }
                checked_block.links.push(info);
            }
            Err(fault) => {
                checked_block.fault = Some((offset, fault));
                break;
            }
        }
    }
    checked_block
}

/// Links checked blocks in file order and reports each linked event to the visitor.
struct Stitcher<V> {
    linker: Linker,
    fault: Option<FaultAt>,
    halted: bool,
    visit: V,
}

impl<V> Stitcher<V> {
    /// Links a block; returns whether the walk goes on.
    fn absorb<T>(&mut self, block: CheckedBlock<T>) -> bool
    where
        V: FnMut(&LinkInfo, Option<&ArtifactRef>, T) -> ControlFlow<()>,
    {
        let mut artifacts = block.artifacts.iter().peekable();
        for ((index, info), payload) in block.links.iter().enumerate().zip(block.payloads) {
            if let Err(fault) = self.linker.link(info) {
                self.stop(info.offset, ChainFault::Link(fault));
                return false;
            }
            let artifact = artifacts
                .next_if(|(artifact_index, _)| *artifact_index == index)
                .map(|(_, artifact)| artifact);
            if (self.visit)(info, artifact, payload).is_break() {
                self.halted = true;
                return false;
            }
        }
        match block.fault {
            Some((offset, fault)) => {
                self.stop(offset, ChainFault::Line(fault));
                false
            }
            None => true,
        }
    }

    fn stop(&mut self, offset: u64, fault: ChainFault) {
        self.fault = Some(FaultAt {
            seq: self.linker.next_seq(),
            offset,
            fault,
        });
    }

    /// Ends the walk with the scanner's final answer, once every earlier block is linked.
    fn finish_scan(mut self, scanned: Scanned) -> Walk {
        match scanned {
            Scanned::Overlong { offset } => {
                self.stop(offset, ChainFault::Line(LineFault::overlong()));
                self.finish(offset)
            }
            Scanned::End {
                offset,
                unterminated,
            } => self.finish(offset + unterminated),
            // Never the final answer: callers absorb blocks before they finish.
            Scanned::Lines(block) => self.finish(block.offset),
        }
    }

    fn finish(self, end: u64) -> Walk {
        Walk {
            linker: self.linker,
            fault: self.fault,
            end,
            halted: self.halted,
        }
    }
}

/// Returns the walk of `source` (positioned at `from.offset`) using `threads` checker threads.
///
/// `visit` sees every linked event in file order, with the artifact it records, if any.
pub(crate) fn walk(
    source: impl Read,
    from: Position,
    threads: usize,
    mut visit: impl FnMut(&LinkInfo, Option<&ArtifactRef>),
) -> io::Result<Walk> {
    walk_decoding(source, from, threads, &|_| (), |info, artifact, ()| {
        visit(info, artifact);
        ControlFlow::Continue(())
    })
}

/// Returns the walk, as [`walk`] does, and also hands each linked event's decoded value
/// (made by `decode` on the checker threads, so decoding runs in parallel too) to `visit`,
/// which may stop the walk (`halted`).
pub(crate) fn walk_decoding<T: Send>(
    source: impl Read,
    from: Position,
    threads: usize,
    decode: Decoder<'_, T>,
    visit: impl FnMut(&LinkInfo, Option<&ArtifactRef>, T) -> ControlFlow<()>,
) -> io::Result<Walk> {
    let mut scanner = BlockScanner::new(source, from.offset);
    let mut stitcher = Stitcher {
        linker: Linker::resume(from),
        fault: None,
        halted: false,
        visit,
    };
    if threads <= 1 {
        loop {
            match scanner.next_block()? {
                Scanned::Lines(block) => {
                    if !stitcher.absorb(check_block(&block, decode)) {
                        return Ok(stitcher.finish(block.offset + block.bytes.len() as u64));
                    }
                    scanner.recycle(block.bytes);
                }
                last => return Ok(stitcher.finish_scan(last)),
            }
        }
    }
    walk_parallel(scanner, stitcher, threads, decode)
}

fn walk_parallel<T: Send, V: FnMut(&LinkInfo, Option<&ArtifactRef>, T) -> ControlFlow<()>>(
    mut scanner: BlockScanner<impl Read>,
    mut stitcher: Stitcher<V>,
    threads: usize,
    decode: Decoder<'_, T>,
) -> io::Result<Walk> {
    let (job_sender, job_receiver) = mpsc::sync_channel::<(u64, Block)>(threads);
    let job_receiver = Mutex::new(job_receiver);
    let (done_sender, done_receiver) = mpsc::channel::<(u64, CheckedBlock<T>, Block)>();
    std::thread::scope(|scope| {
        // Workers stop when the last job sender is gone, which this closure owns.
        let job_sender = job_sender;
        for _ in 0..threads {
            let job_receiver = &job_receiver;
            let done_sender = done_sender.clone();
            scope.spawn(move || loop {
                let job = job_receiver
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .recv();
                let Ok((index, block)) = job else { break };
                if done_sender
                    .send((index, check_block(&block, decode), block))
                    .is_err()
                {
                    break;
                }
            });
        }
        drop(done_sender);
        let mut finished: BTreeMap<u64, (CheckedBlock<T>, Block)> = BTreeMap::new();
        let (mut n_sent, mut n_linked) = (0u64, 0u64);
        let mut last: Option<Scanned> = None;
        loop {
            while let Ok((index, checked, block)) = done_receiver.try_recv() {
                finished.insert(index, (checked, block));
            }
            while let Some((checked, block)) = finished.remove(&n_linked) {
                n_linked += 1;
                if !stitcher.absorb(checked) {
                    return Ok(stitcher.finish(block.offset + block.bytes.len() as u64));
                }
                scanner.recycle(block.bytes);
            }
            if let Some(scanned) = last.take() {
                if n_linked == n_sent {
                    return Ok(stitcher.finish_scan(scanned));
                }
                last = Some(scanned);
                match done_receiver.recv() {
                    Ok((index, checked, block)) => finished.insert(index, (checked, block)),
                    Err(_) => return Err(io::Error::other("a verify worker thread stopped")),
                };
                continue;
            }
            match scanner.next_block()? {
                Scanned::Lines(block) => {
                    if job_sender.send((n_sent, block)).is_err() {
                        return Err(io::Error::other("verify worker threads stopped"));
                    }
                    n_sent += 1;
                }
                scanned => last = Some(scanned),
            }
        }
    })
}
