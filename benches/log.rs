//! Event log throughput, next to the physical floor measured in the same run.
//!
//! - read + verify of a 1,000,000-event log (~300 bytes an event), on one core and on all cores;
//! - the floor: reading the same file, BLAKE3 (derive-key) over each line and `serde_json`
//!   parsing each line (into `IgnoredAny`, the cheapest full parse), on one core;
//! - appends: events/s in 4,096-event batches, and the latency of a one-event durable append.
//! - the Merkle tree: its root over line hashes already computed, and an inclusion proof read
//!   from the log.
//!
//! Run with `cargo bench --bench log`. A summary with the ratios and peak memory is printed last.
//! `OMK_BENCH_EVENTS` overrides the log size (default 1,000,000).

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

mod support;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput};
use omk::log::merkle::{leaf_hash, RootBuilder};
use omk::log::proof::prove_inclusion;
use omk::log::writer::Expected;
use omk::log::{
    verify_log, EventHash, EventId, EventKind, LogPaths, LogReader, LogWriter, NewEvent,
    VerifyOptions,
};
use support::{best_of, floor, peak_rss_kib, reset_peak_rss};

const BATCH: usize = 4096;

fn n_events() -> usize {
    std::env::var("OMK_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000)
}

/// Returns a realistic event: task transitions and agent usage reports with prose reasons.
fn realistic_event(n: usize) -> NewEvent {
    let id = EventId::new(format!("ev-{n:012x}")).unwrap();
    let (kind, data) = if n.is_multiple_of(3) {
        (
            "agent_usage_reported",
            serde_json::json!({
                "task_id": format!("t{:03}", n % 97),
                "agent": "claude",
                "input_tokens": 1200 + n % 5000,
                "output_tokens": 300 + n % 900,
                "usd": (n % 1000) as f64 / 1000.0,
                "model": "claude-sonnet-4-5",
            }),
        )
    } else {
        (
            "task_transitioned",
            serde_json::json!({
                "task_id": format!("t{:03}", n % 97),
                "from": "running",
                "to": if n.is_multiple_of(2) { "done" } else { "failed" },
                "reason": "agent exited 0; 3 files changed",
            }),
        )
    };
    NewEvent::new(id, EventKind::new(kind).unwrap(), &data).unwrap()
}

fn write_log(paths: &LogPaths, n: usize) {
    let mut writer = LogWriter::open(paths).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 14, 0, 0).unwrap();
    let mut next = 0;
    while next < n {
        let end = (next + BATCH).min(n);
        let batch: Vec<NewEvent> = (next..end).map(realistic_event).collect();
        writer
            .append(Expected::Seq(next as u64), at, &batch)
            .unwrap();
        next = end;
    }
}

fn verify(paths: &LogPaths, threads: usize) -> u64 {
    let options = VerifyOptions {
        threads: NonZeroUsize::new(threads).unwrap(),
        check_artifacts: true,
    };
    let report = verify_log(paths, options).unwrap();
    assert!(report.intact);
    report.events
}

fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Returns the Merkle root over the leaves of `line_hashes`.
fn merkle_root(line_hashes: &[EventHash]) -> Option<EventHash> {
    let mut builder = RootBuilder::default();
    for hash in line_hashes {
        builder.push(leaf_hash(hash));
    }
    builder.root()
}

fn read_and_verify(c: &mut Criterion, paths: &LogPaths) {
    let bytes = std::fs::metadata(paths.log()).unwrap().len();
    let mut group = c.benchmark_group("read_verify_1m");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("floor_blake3_plus_json_1_core", |b| {
        b.iter(|| floor(paths.log()))
    });
    group.bench_function("verify_1_core", |b| b.iter(|| verify(paths, 1)));
    group.bench_function("verify_all_cores", |b| {
        b.iter(|| verify(paths, all_cores()))
    });
    group.bench_function("read_for_fold_1_core", |b| {
        b.iter(|| LogReader::open(paths).unwrap().map(Result::unwrap).count())
    });
    group.finish();
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    let dir = tempfile::tempdir().unwrap();
    let paths = LogPaths::for_log(dir.path().join("events.jsonl"));
    let mut writer = LogWriter::open(&paths).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 14, 0, 0).unwrap();
    let mut next = 0;
    group.bench_function("batch_of_4096_durable", |b| {
        b.iter_batched(
            || {
                let batch: Vec<NewEvent> = (next..next + BATCH).map(realistic_event).collect();
                next += BATCH;
                batch
            },
            |batch| writer.append(Expected::Any, at, &batch).unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_event_durable", |b| {
        b.iter_batched(
            || {
                next += 1;
                vec![realistic_event(next)]
            },
            |batch| writer.append(Expected::Any, at, &batch).unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Prints events/s and MB/s of each path with its ratio to the floor, and peak memory.
fn summary(paths: &LogPaths, n: usize) {
    let bytes = std::fs::metadata(paths.log()).unwrap().len() as f64;
    // The tree's own cost: the line hashes are what verification already computed.
    let line_hashes: Vec<EventHash> = LogReader::open(paths)
        .unwrap()
        .map(|raw| raw.unwrap().hash())
        .collect();
    let floor_s = best_of(3, || assert_eq!(floor(paths.log()), n));
    let measure = |work: &mut dyn FnMut()| {
        reset_peak_rss();
        let seconds = best_of(3, &mut *work);
        (seconds, peak_rss_kib())
    };
    let rows = [
        (
            "verify, 1 core",
            measure(&mut || assert_eq!(verify(paths, 1), n as u64)),
        ),
        (
            "verify, all cores",
            measure(&mut || assert_eq!(verify(paths, all_cores()), n as u64)),
        ),
        (
            "read for fold, 1 core",
            measure(&mut || {
                assert_eq!(
                    LogReader::open(paths).unwrap().map(Result::unwrap).count(),
                    n
                )
            }),
        ),
        (
            "merkle root, from line hashes",
            measure(&mut || assert!(merkle_root(&line_hashes).is_some())),
        ),
        (
            "inclusion proof, from the log",
            measure(&mut || {
                prove_inclusion(paths, n as u64 / 2, None).unwrap();
            }),
        ),
    ];
    println!(
        "\nsummary: {n} events, {:.1} MB, {} cores",
        bytes / 1e6,
        all_cores()
    );
    println!(
        "  floor (blake3 + json, 1 core): {:>10.0} events/s {:>7.1} MB/s",
        n as f64 / floor_s,
        bytes / floor_s / 1e6
    );
    for (name, (seconds, peak_kib)) in rows {
        println!(
            "  {name:<30} {:>10.0} events/s {:>7.1} MB/s  = {:>3.0}% of the floor, peak RSS {:.1} MiB",
            n as f64 / seconds,
            bytes / seconds / 1e6,
            100.0 * floor_s / seconds,
            peak_kib as f64 / 1024.0
        );
    }
}

fn main() {
    let n = n_events();
    let dir = tempfile::tempdir().unwrap();
    let paths = LogPaths::for_log(dir.path().join("events.jsonl"));
    let start = Instant::now();
    write_log(&paths, n);
    println!(
        "wrote {n} events ({:.1} MB) in {:.2}s",
        std::fs::metadata(paths.log()).unwrap().len() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let mut criterion = Criterion::default().configure_from_args();
    read_and_verify(&mut criterion, &paths);
    appends(&mut criterion);
    summary(&paths, n);
    criterion.final_summary();
}
