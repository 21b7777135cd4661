//! `omk goal status` on a goal whose log holds 1,000,000 events, with and without a snapshot,
//! next to the physical floor (BLAKE3 + JSON parse of the same bytes) measured in the same run.
//!
//! The goal is realistic for a long execution: a planned graph, then lease renewals and usage
//! reports from running agents. Measured: the library's load + glance (criterion), and the
//! whole `omk goal status --format json` process, best of several runs.
//!
//! Also `omk replay --verify` (chain, artifacts and decoding on the checker threads, fold twice).
//!
//! Run with `cargo bench --bench goal_status`. `OMK_BENCH_EVENTS` overrides the size.

#[path = "../tests/it/common/long_goal.rs"]
mod long_goal;
mod support;

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use criterion::Criterion;
use omk::event::Timestamp;
use omk::log::writer::Expected;
use omk::log::{EventId, LogWriter, NewEvent};
use omk::project::glance::glance;
use omk::project::snapshot::Snapshot;
use omk::project::to_json;
use omk::store::{GoalDir, StateDir, SNAPSHOT_FILE};
use support::{best_of, best_process, floor, run_process};

const GOAL: &str = "g-20261124-140000-000-bench";
const BATCH: usize = 4096;

fn n_events() -> usize {
    std::env::var("OMK_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000)
}

/// Writes the goal; returns the snapshot taken before the last batch (the tail a command folds).
fn write_goal(goal: &GoalDir, n: usize) -> Snapshot {
    std::fs::create_dir_all(goal.dir()).unwrap();
    let mut writer = LogWriter::open(&goal.paths()).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 14, 0, 0).unwrap();
    let mut events = long_goal::opening(GOAL);
    events.extend((events.len()..n).map(long_goal::tail_event));
    let mut state = None;
    let mut snapshot = None;
    for (index, batch) in events.chunks(BATCH).enumerate() {
        let first = index * BATCH;
        let new: Vec<NewEvent> = batch
            .iter()
            .enumerate()
            .map(|(offset, event)| {
                event
                    .to_new_event(EventId::new(format!("ev-{:x}", first + offset)).unwrap())
                    .unwrap()
            })
            .collect();
        let appended = writer
            .append(Expected::Seq(first as u64), at, &new)
            .unwrap();
        for (offset, event) in batch.iter().enumerate() {
            let recorded = omk::event::RecordedEvent {
                seq: (first + offset) as u64,
                at: Timestamp::new(at),
                event: event.clone(),
            };
            match &mut state {
                None => state = Some(omk::state::GoalState::start(&recorded).unwrap()),
                Some(state) => state.apply(&recorded).unwrap(),
            }
        }
        if first + BATCH < n && first + 2 * BATCH >= n {
            snapshot = Snapshot::new(state.as_ref().unwrap(), appended.position, &appended.tree);
        }
    }
    snapshot.unwrap()
}

/// What `omk goal status --format json` does in the library: a view's load (the snapshot when
/// it is usable, then the tail), then the glance.
fn status_json(goal: &GoalDir) -> String {
    let loaded = goal.load_view().unwrap();
    to_json(&glance(&loaded.state, loaded.head()))
}

fn process_status(home: &Path) -> std::process::Output {
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)] // Times the real binary.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(["goal", "status", GOAL, "--format", "json"])
        .env("OMK_HOME", home)
        .output()
        .unwrap();
    assert!(output.status.success());
    output
}

fn main() {
    let n = n_events();
    // `OMK_BENCH_DIR` keeps the goal there, to profile the commands on it afterwards.
    let kept = std::env::var_os("OMK_BENCH_DIR").map(std::path::PathBuf::from);
    let temporary = tempfile::tempdir().unwrap();
    let root = kept.as_deref().unwrap_or(temporary.path());
    let dir = tempfile::TempDir::new_in(root).unwrap();
    let dir = if kept.is_some() {
        dir.keep()
    } else {
        dir.path().to_path_buf()
    };
    let goal = StateDir::new(&dir).goal(GOAL);
    let start = Instant::now();
    let snapshot = write_goal(&goal, n);
    let log = goal.paths().log().to_path_buf();
    let bytes = std::fs::metadata(&log).unwrap().len() as f64;
    println!(
        "wrote a goal of {n} events ({:.1} MB) in {:.2}s",
        bytes / 1e6,
        start.elapsed().as_secs_f64()
    );
    let snapshot_path = goal.dir().join(SNAPSHOT_FILE);
    let tail = n as u64 - snapshot.covers.seq - 1;
    let put_snapshot = || std::fs::write(&snapshot_path, to_json(&snapshot)).unwrap();
    let drop_snapshot = || {
        let _ = std::fs::remove_file(&snapshot_path);
    };

    let mut criterion = Criterion::default().configure_from_args();
    // A read that folds 512 events or more refreshes the snapshot, so the tail is put back
    // before each run to measure folding it; the refreshed case is measured on its own.
    criterion.bench_function("goal status, snapshot + tail", |b| {
        b.iter_batched(
            put_snapshot,
            |()| black_box(status_json(&goal)),
            criterion::BatchSize::PerIteration,
        )
    });
    put_snapshot();
    status_json(&goal);
    criterion.bench_function("goal status, refreshed snapshot", |b| {
        b.iter(|| black_box(status_json(&goal)))
    });
    let mut group = criterion.benchmark_group("goal status, no snapshot");
    group.sample_size(10);
    group.bench_function("full fold", |b| {
        b.iter(|| {
            drop_snapshot();
            black_box(status_json(&goal))
        })
    });
    group.finish();

    let floor_s = best_of(3, || assert_eq!(floor(&log), n));
    let with_snapshot = best_of(20, || {
        put_snapshot();
        black_box(status_json(&goal));
    });
    let process_with = best_of(20, || {
        put_snapshot();
        process_status(&dir);
    });
    let process_refreshed = best_of(20, || {
        process_status(&dir);
    });
    let without = best_of(3, || {
        drop_snapshot();
        black_box(status_json(&goal));
    });
    drop_snapshot();
    let process_without = best_of(3, || {
        drop_snapshot();
        process_status(&dir);
    });
    drop_snapshot();
    let replay = best_of(2, || {
        let report = omk::ops::replay::verify_goal_dir(goal.dir()).unwrap();
        assert!(report.intact);
    });
    let omk = env!("CARGO_BIN_EXE_omk");
    let home = [("OMK_HOME", dir.as_path())];
    let process = |args: &[&str]| best_process(2, || run_process(omk, args, &home));
    drop_snapshot();
    let rows = [
        (
            "omk --version (what measuring costs)",
            process(&["--version"]),
        ),
        (
            "omk replay --verify",
            process(&["replay", GOAL, "--verify"]),
        ),
        ("omk replay (timeline, text)", process(&["replay", GOAL])),
        (
            "omk replay --format json (timeline)",
            process(&["replay", GOAL, "--format", "json"]),
        ),
        ("omk goal status, no snapshot (cold fold)", {
            best_process(2, || {
                drop_snapshot();
                run_process(omk, &["goal", "status", GOAL, "--format", "json"], &home)
            })
        }),
        ("omk replay --at <seq past the snapshot>", {
            let at = (snapshot.covers.seq + 1).to_string();
            best_process(2, || {
                put_snapshot();
                run_process(
                    omk,
                    &["replay", GOAL, "--at", &at, "--format", "json"],
                    &home,
                )
            })
        }),
        ("omk goal status, warm (snapshot, no tail)", {
            put_snapshot();
            process_status(&dir);
            best_process(10, || {
                run_process(omk, &["goal", "status", GOAL, "--format", "json"], &home)
            })
        }),
    ];
    println!("\nsummary: goal of {n} events, {:.1} MB", bytes / 1e6);
    println!(
        "  floor (blake3 + json, 1 core): {:>10.0} events/s  {:.0} ms",
        n as f64 / floor_s,
        floor_s * 1e3
    );
    println!("  status with snapshot ({tail}-event tail): {:.2} ms in the library, {:.2} ms as a process", with_snapshot * 1e3, process_with * 1e3);
    println!(
        "  status with a refreshed snapshot (no tail): {:.2} ms as a process",
        process_refreshed * 1e3
    );
    println!(
        "  status without snapshot: {:.0} ms in the library ({:.0} events/s = {:.0}% of the floor), {:.0} ms as a process",
        without * 1e3,
        n as f64 / without,
        100.0 * floor_s / without,
        process_without * 1e3
    );
    println!(
        "  replay --verify (chain + artifacts + decoding on all cores, fold twice): {:.0} ms, {:.0} events/s = {:.0}% of the 1-core floor",
        replay * 1e3,
        n as f64 / replay,
        100.0 * floor_s / replay
    );
    println!(
        "\nwhole processes, {n} events, side by side with the floor ({:.2} s):",
        floor_s
    );
    println!("  | command | wall | peak memory | vs. floor |");
    println!("  | --- | --- | --- | --- |");
    for (name, run) in &rows {
        println!(
            "  | `{name}` | {:.3} s | {:.0} MB | {:.2}x the floor's speed |",
            run.seconds,
            run.peak_kib as f64 * 1024.0 / 1e6,
            floor_s / run.seconds
        );
    }
    criterion.final_summary();
}
