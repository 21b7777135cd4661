//! Property tests of the log: write → read is identity, and every tamper or cut is located.

use crate::common;

use std::fs;
use std::num::NonZeroUsize;

use common::{contents, event, log_in, new_contents, read_all, write_batches};
use omk::log::reader::ReadError;
use omk::log::verify::{Finding, LogFault, Problem, Severity};
use omk::log::{verify_log, LogPaths, LogReader, NewEvent, VerifyOptions, VerifyReport};
use proptest::prelude::*;

/// Returns a strategy for a log: 1 to 8 batches of 1 to 3 events with small, varied payloads.
fn batches() -> impl Strategy<Value = Vec<Vec<NewEvent>>> {
    batches_up_to(8)
}

fn batches_up_to(max_batches: usize) -> impl Strategy<Value = Vec<Vec<NewEvent>>> {
    let payload = (
        prop::sample::select(vec![
            "run_started",
            "task_transitioned",
            "run_failed",
            "zz_future_kind",
        ]),
        "[ -~é\\n\"\\\\]{0,24}",
        any::<i64>(),
    );
    prop::collection::vec(prop::collection::vec(payload, 1..=3), 1..=max_batches).prop_map(
        |batches| {
            let mut next_id = 0;
            batches
                .into_iter()
                .map(|batch| {
                    batch
                        .into_iter()
                        .map(|(kind, text, number)| {
                            next_id += 1;
                            event(
                                &format!("ev-{next_id}"),
                                kind,
                                serde_json::json!({ "text": text, "n": number }),
                            )
                        })
                        .collect()
                })
                .collect()
        },
    )
}

fn options(threads: usize) -> VerifyOptions {
    VerifyOptions {
        threads: NonZeroUsize::new(threads).unwrap(),
        check_artifacts: true,
    }
}

/// Returns the report, checking first that one thread and four threads agree exactly.
fn verify(paths: &LogPaths) -> VerifyReport {
    let single = verify_log(paths, options(1)).unwrap();
    let parallel = verify_log(paths, options(4)).unwrap();
    assert_eq!(
        single, parallel,
        "parallel verify disagrees with sequential verify"
    );
    single
}

fn first_error_seq(report: &VerifyReport) -> Option<u64> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter_map(|f| f.seq)
        .min()
}

/// Returns the byte range of each line, `\n` included.
fn line_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            ranges.push(start..index + 1);
            start = index + 1;
        }
    }
    ranges
}

/// Returns the seq of the first event of each event's batch.
fn batch_starts(batches: &[Vec<NewEvent>]) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut seq = 0;
    for batch in batches {
        starts.extend(std::iter::repeat_n(seq, batch.len()));
        seq += batch.len() as u64;
    }
    starts
}

#[derive(Debug, Clone)]
enum Tamper {
    FlipBit {
        position: prop::sample::Index,
        bit: u8,
    },
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<prop::sample::Index>(), 0u8..8)
            .prop_map(|(position, bit)| Tamper::FlipBit { position, bit }),
        any::<prop::sample::Index>().prop_map(Tamper::DeleteLine),
        any::<prop::sample::Index>().prop_map(Tamper::DuplicateLine),
        any::<prop::sample::Index>().prop_map(Tamper::SwapLines),
    ]
}

/// Applies the tamper and returns the new bytes with the first seq it must be reported at.
fn apply(tamper: &Tamper, bytes: &[u8], starts: &[u64]) -> Option<(Vec<u8>, u64)> {
    let lines = line_ranges(bytes);
    let n_lines = lines.len();
    let last_batch_start = starts[n_lines - 1];
    match tamper {
        Tamper::FlipBit { position, bit } => {
            let position = position.index(bytes.len());
            let mut tampered = bytes.to_vec();
            tampered[position] ^= 1 << bit;
            let line = lines.iter().position(|r| r.contains(&position)).unwrap();
            // Cutting the final `\n` leaves the last batch unfinished: a torn tail from its start.
            let expected = if position == bytes.len() - 1 {
                last_batch_start
            } else {
                line as u64
            };
            Some((tampered, expected))
        }
        Tamper::DeleteLine(index) => {
            let line = index.index(n_lines);
            let mut tampered = bytes[..lines[line].start].to_vec();
            tampered.extend_from_slice(&bytes[lines[line].end..]);
            let expected = if line == n_lines - 1 {
                last_batch_start
            } else {
                line as u64
            };
            Some((tampered, expected))
        }
        Tamper::DuplicateLine(index) => {
            let line = index.index(n_lines);
            let mut tampered = bytes[..lines[line].end].to_vec();
            tampered.extend_from_slice(&bytes[lines[line].clone()]);
            tampered.extend_from_slice(&bytes[lines[line].end..]);
            Some((tampered, line as u64 + 1))
        }
        Tamper::SwapLines(index) => {
            if n_lines < 2 {
                return None;
            }
            let line = index.index(n_lines - 1);
            let mut tampered = bytes[..lines[line].start].to_vec();
            tampered.extend_from_slice(&bytes[lines[line + 1].clone()]);
            tampered.extend_from_slice(&bytes[lines[line].clone()]);
            tampered.extend_from_slice(&bytes[lines[line + 1].end..]);
            Some((tampered, line as u64))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read_is_identity_and_verifies(batches in batches()) {
        let dir = tempfile::tempdir().unwrap();
        let paths = log_in(dir.path());
        write_batches(&paths, &batches);
        let events = read_all(&paths);
        prop_assert_eq!(contents(&events), new_contents(batches.iter().flatten()));
        for (seq, event) in events.iter().enumerate() {
            prop_assert_eq!(event.seq(), seq as u64);
        }
        let report = verify(&paths);
        prop_assert!(report.intact, "{:?}", report.findings);
        prop_assert_eq!(report.events, events.len() as u64);
        prop_assert!(report.findings.is_empty(), "{:?}", report.findings);
        prop_assert_eq!(report.head.map(|h| h.hash), events.last().map(|e| e.hash()));
    }

    #[test]
    fn every_tamper_is_reported_at_the_first_affected_seq(batches in batches(), tamper in tamper()) {
        let dir = tempfile::tempdir().unwrap();
        let paths = log_in(dir.path());
        write_batches(&paths, &batches);
        let bytes = fs::read(paths.log()).unwrap();
        let Some((tampered, expected_seq)) = apply(&tamper, &bytes, &batch_starts(&batches)) else {
            return Ok(());
        };
        fs::write(paths.log(), &tampered).unwrap();
        let report = verify(&paths);
        prop_assert!(!report.intact, "tamper {:?} went unnoticed", tamper);
        prop_assert_eq!(first_error_seq(&report), Some(expected_seq), "{:?}", report.findings);
        // Reading for a fold stops at the same place: never past a bad line.
        let read: Result<Vec<_>, _> = LogReader::open(&paths).unwrap().collect();
        if let Ok(events) = read {
            prop_assert!((events.len() as u64) <= expected_seq);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn truncation_at_every_byte_keeps_exactly_the_complete_prefix(batches in batches_up_to(4)) {
        let dir = tempfile::tempdir().unwrap();
        let paths = log_in(dir.path());
        write_batches(&paths, &batches);
        let bytes = fs::read(paths.log()).unwrap();
        let lines = line_ranges(&bytes);
        // The byte offset after each complete batch, with the number of events before it.
        let mut boundaries = vec![(0usize, 0u64)];
        let mut n_events = 0;
        for batch in &batches {
            n_events += batch.len();
            boundaries.push((lines[n_events - 1].end, n_events as u64));
        }
        for cut in 0..bytes.len() {
            fs::write(paths.log(), &bytes[..cut]).unwrap();
            let &(boundary, complete) = boundaries.iter().rev().find(|(end, _)| *end <= cut).unwrap();
            let report = verify(&paths);
            prop_assert_eq!(report.events, complete);
            let torn: Vec<&Finding> = report.findings.iter()
                .filter(|f| matches!(f.problem, Problem::Log(LogFault::TornTail { .. })))
                .collect();
            if cut == boundary {
                prop_assert!(torn.is_empty());
            } else {
                prop_assert_eq!(torn.len(), 1);
                prop_assert_eq!(torn[0].offset, Some(boundary as u64));
                prop_assert_eq!(&torn[0].problem, &Problem::Log(LogFault::TornTail { bytes: (cut - boundary) as u64 }));
            }
            // The checkpoint still names the last event, so every cut shows as truncation.
            prop_assert!(report.findings.iter().any(|f| f.problem == Problem::Log(LogFault::TruncatedAgainstCheckpoint {
                checkpoint_seq: n_events as u64 - 1,
                log_events: complete,
            }) && f.seq == Some(complete)), "{:?}", report.findings);
            // A reader yields the complete prefix, then reports the truncation: never a
            // shorter history shown as if it were the whole one.
            let mut reader = LogReader::open(&paths).unwrap();
            let items: Vec<_> = reader.by_ref().collect();
            let (last, read) = items.split_last().unwrap();
            prop_assert!(read.iter().all(Result::is_ok));
            prop_assert_eq!(read.len() as u64, complete);
            prop_assert!(matches!(last, Err(ReadError::Truncated { events, checkpoint_seq, .. })
                if *events == complete && *checkpoint_seq == n_events as u64 - 1), "{:?}", last);
            prop_assert_eq!(reader.torn_tail().map(|t| t.offset), (cut != boundary).then_some(boundary as u64));
        }
    }
}
