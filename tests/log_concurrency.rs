//! Concurrent appenders on one log, as threads with their own handles and as separate
//! processes: no event lost, duplicated or interleaved, `seq` contiguous, and the log verifies.
//!
//! The test binary re-executes itself as each child process (`OMK_TEST_APPENDER` set), so it
//! runs without the libtest harness and prints its own `N passed, N failed` line.

#![allow(clippy::disallowed_types)] // The test starts its own child processes.

#[path = "it/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{at, event, log_in, read_all};
use omk::log::writer::Expected;
use omk::log::{verify_log, LogPaths, LogWriter, NewEvent, VerifyOptions};

const WRITERS: usize = 4;
const BATCHES_PER_WRITER: usize = 40;

/// Returns the batch a writer appends at step `index`: 1 to 3 events with recognisable ids.
fn batch_for(writer: &str, index: usize) -> Vec<NewEvent> {
    (0..1 + index % 3)
        .map(|part| {
            event(
                &format!("{writer}-{index}-{part}"),
                "task_transitioned",
                serde_json::json!({ "writer": writer, "index": index, "part": part }),
            )
        })
        .collect()
}

fn append_all(paths: &LogPaths, writer_name: &str) {
    let mut writer = LogWriter::open(paths).unwrap();
    for index in 0..BATCHES_PER_WRITER {
        writer
            .append(
                Expected::Any,
                at(index as i64),
                &batch_for(writer_name, index),
            )
            .unwrap();
    }
}

/// Checks the log holds every writer's batches exactly once, whole, and in each writer's order.
fn check_log(paths: &LogPaths, writers: &[String]) -> Result<(), String> {
    let events = read_all(paths);
    let expected: usize = writers.len() * (0..BATCHES_PER_WRITER).map(|i| 1 + i % 3).sum::<usize>();
    if events.len() != expected {
        return Err(format!("expected {expected} events, read {}", events.len()));
    }
    let ids: BTreeSet<&str> = events.iter().map(|e| e.id()).collect();
    if ids.len() != events.len() {
        return Err("an event id appears twice".to_owned());
    }
    for writer in writers {
        let own: Vec<&str> = events
            .iter()
            .map(|e| e.id())
            .filter(|id| id.starts_with(&format!("{writer}-")))
            .collect();
        let in_order: Vec<String> = (0..BATCHES_PER_WRITER)
            .flat_map(|index| batch_for(writer, index))
            .map(|e| e.id().to_string())
            .collect();
        if own != in_order {
            return Err(format!(
                "writer {writer}'s events are out of order or missing"
            ));
        }
    }
    // Whole batches: every event of a batch sits next to its siblings.
    for event in &events {
        let batch = event.batch();
        let part: u32 = event.id().rsplit('-').next().unwrap().parse().unwrap();
        if batch.index != part {
            return Err(format!(
                "event {} is at batch index {}",
                event.id(),
                batch.index
            ));
        }
    }
    let report = verify_log(paths, VerifyOptions::all_cores()).unwrap();
    if !report.intact {
        return Err(format!("verify failed: {:?}", report.findings));
    }
    Ok(())
}

fn threads_with_separate_handles(dir: &Path) -> Result<(), String> {
    let paths = log_in(dir);
    let writers: Vec<String> = (0..WRITERS).map(|i| format!("thread{i}")).collect();
    std::thread::scope(|scope| {
        for name in &writers {
            let paths = &paths;
            scope.spawn(move || append_all(paths, name));
        }
    });
    check_log(&paths, &writers)
}

fn separate_processes(dir: &Path) -> Result<(), String> {
    let paths = log_in(dir);
    let writers: Vec<String> = (0..WRITERS).map(|i| format!("process{i}")).collect();
    let this_binary = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<_> = writers
        .iter()
        .map(|name| {
            Command::new(&this_binary)
                .env("OMK_TEST_APPENDER", name)
                .env("OMK_TEST_LOG", paths.log())
                .spawn()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("an appender process failed: {status}"));
        }
    }
    check_log(&paths, &writers)
}

/// One scenario: it gets an empty directory and returns why it failed, if it did.
type ConcurrencyTest = fn(&Path) -> Result<(), String>;

fn main() {
    if let Ok(name) = std::env::var("OMK_TEST_APPENDER") {
        let log = std::env::var("OMK_TEST_LOG").expect("OMK_TEST_LOG names the log");
        append_all(&LogPaths::for_log(log.into()), &name);
        return;
    }
    let tests: [(&str, ConcurrencyTest); 2] = [
        (
            "threads_with_separate_handles",
            threads_with_separate_handles,
        ),
        ("separate_processes", separate_processes),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        let dir = tempfile::tempdir().unwrap();
        match test(dir.path()) {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                failed += 1;
                println!("test {name} ... FAILED: {why}");
            }
        }
    }
    println!(
        "log_concurrency: {} passed, {failed} failed",
        tests.len() - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
