//! The writer: optimistic concurrency, idempotent retries, caps, poisoning, torn tails, repair,
//! and a model test that crashes it at random write and fsync points.

use crate::common;

use std::fs::{self, File};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use common::{at, contents, event, log_in, new_contents, read_all, write_batches};
use omk::log::checkpoint::read_checkpoint;
use omk::log::io::LogIo;
use omk::log::repair::{repair_log, RepairError, Repaired};
use omk::log::verify::{LogFault, Problem};
use omk::log::writer::{AppendOutcome, Expected};
use omk::log::{verify_log, AppendError, LogWriter, NewEvent, OpenError, VerifyOptions};
use proptest::prelude::*;

fn batch(prefix: &str, n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| {
            event(
                &format!("{prefix}-{i}"),
                "run_started",
                serde_json::json!({ "i": i }),
            )
        })
        .collect()
}

#[test]
fn stale_expected_seq_is_a_conflict_not_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    let mut first = LogWriter::open(&paths).unwrap();
    let mut second = LogWriter::open(&paths).unwrap();
    first
        .append(Expected::Seq(0), at(0), &batch("a", 2))
        .unwrap();
    let error = second
        .append(Expected::Seq(0), at(1), &batch("b", 1))
        .unwrap_err();
    assert!(
        matches!(
            error,
            AppendError::Conflict {
                expected: 0,
                actual: 2,
                ..
            }
        ),
        "{error}"
    );
    // The stale writer caught up under the lock, so the right expectation now succeeds.
    let appended = second
        .append(Expected::Seq(2), at(1), &batch("b", 1))
        .unwrap();
    assert_eq!(appended.first_seq, 2);
    assert_eq!(read_all(&paths).len(), 3);
}

#[test]
fn a_retried_batch_is_recognised_and_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    let mut writer = LogWriter::open(&paths).unwrap();
    let events = batch("a", 3);
    let first = writer.append(Expected::Seq(0), at(0), &events).unwrap();
    assert_eq!(first.outcome, AppendOutcome::Written);
    writer
        .append(Expected::Seq(3), at(1), &batch("b", 1))
        .unwrap();

    // A fresh process retrying the same batch at the same expected seq.
    let mut retry = LogWriter::open(&paths).unwrap();
    let again = retry.append(Expected::Seq(0), at(2), &events).unwrap();
    assert_eq!(again.outcome, AppendOutcome::AlreadyPresent);
    assert_eq!(again.first_seq, 0);

    // With `Any`, a retry of the batch at the log's tail is recognised too.
    let tail = batch("c", 2);
    retry.append(Expected::Any, at(3), &tail).unwrap();
    let again = retry.append(Expected::Any, at(4), &tail).unwrap();
    assert_eq!(again.outcome, AppendOutcome::AlreadyPresent);
    assert_eq!(read_all(&paths).len(), 6);
}

#[test]
fn reusing_an_id_for_other_contents_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    let mut writer = LogWriter::open(&paths).unwrap();
    writer
        .append(Expected::Seq(0), at(0), &batch("a", 1))
        .unwrap();
    let other = [event(
        "a-0",
        "run_failed",
        serde_json::json!({ "reason": "x" }),
    )];
    let error = writer.append(Expected::Seq(0), at(1), &other).unwrap_err();
    assert!(
        matches!(error, AppendError::IdReused { seq: 0, .. }),
        "{error}"
    );
    let error = writer.append(Expected::Any, at(1), &other).unwrap_err();
    assert!(
        matches!(error, AppendError::IdReused { seq: 0, .. }),
        "{error}"
    );
    assert_eq!(read_all(&paths).len(), 1, "a refused append writes nothing");
}

#[test]
fn batches_are_validated_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    let mut writer = LogWriter::open(&paths).unwrap();
    let empty = writer.append(Expected::Any, at(0), &[]).unwrap_err();
    assert!(matches!(empty, AppendError::EmptyBatch));
    let twice = [batch("a", 1), batch("a", 1)].concat();
    let duplicate = writer.append(Expected::Any, at(0), &twice).unwrap_err();
    assert!(
        matches!(duplicate, AppendError::DuplicateId { .. }),
        "{duplicate}"
    );
    let huge = [event(
        "big",
        "run_started",
        serde_json::json!({ "text": "x".repeat(1 << 20) }),
    )];
    let too_long = writer.append(Expected::Any, at(0), &huge).unwrap_err();
    assert!(
        matches!(too_long, AppendError::LineTooLong { .. }),
        "{too_long}"
    );
    assert_eq!(fs::metadata(paths.log()).unwrap().len(), 0);
}

#[test]
fn the_writer_refuses_to_append_after_a_torn_tail_until_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    write_batches(&paths, &[batch("a", 2)]);
    let good_len = fs::metadata(paths.log()).unwrap().len();
    let torn: &[u8] = b"{\"v\":1,\"seq\":2,\"ts\":";
    fs::OpenOptions::new()
        .append(true)
        .open(paths.log())
        .unwrap()
        .write_all(torn)
        .unwrap();
    let error = LogWriter::open(&paths).err().unwrap();
    assert!(
        matches!(error, OpenError::TornTail { offset, bytes, .. } if offset == good_len && bytes == torn.len() as u64),
        "{error}"
    );
    let Repaired::MovedTornTail {
        offset,
        bytes,
        side_file,
        events,
        ..
    } = repair_log(&paths).unwrap()
    else {
        panic!("expected a repair");
    };
    assert_eq!((offset, bytes, events), (good_len, torn.len() as u64, 2));
    assert_eq!(fs::read(&side_file).unwrap(), torn);
    assert_eq!(fs::metadata(paths.log()).unwrap().len(), good_len);
    assert_eq!(
        repair_log(&paths).unwrap(),
        Repaired::NothingToRepair { events: 2 }
    );
    let mut writer = LogWriter::open(&paths).unwrap();
    writer
        .append(Expected::Seq(2), at(1), &batch("b", 1))
        .unwrap();
    assert!(
        verify_log(&paths, VerifyOptions::all_cores())
            .unwrap()
            .intact
    );
}

#[test]
fn an_incomplete_batch_is_a_torn_tail_and_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    write_batches(&paths, &[batch("a", 1), batch("b", 3)]);
    let bytes = fs::read(paths.log()).unwrap();
    // Keep the first batch and two of the second batch's three lines: a crash mid-write.
    let cut = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(2)
        .unwrap()
        .0
        + 1;
    fs::write(paths.log(), &bytes[..cut]).unwrap();
    // Remove the checkpoint so this looks like a crash before the batch's checkpoint.
    fs::remove_file(paths.checkpoint()).unwrap();
    let events = read_all(&paths);
    assert_eq!(
        events.len(),
        1,
        "events of an unfinished batch must not be read"
    );
    let report = verify_log(&paths, VerifyOptions::all_cores()).unwrap();
    assert_eq!(report.events, 1);
    assert!(report
        .findings
        .iter()
        .any(|f| matches!(f.problem, Problem::Log(LogFault::TornTail { .. }))));
    let Repaired::MovedTornTail { events, .. } = repair_log(&paths).unwrap() else {
        panic!("expected a repair");
    };
    assert_eq!(events, 1);
    assert!(
        verify_log(&paths, VerifyOptions::all_cores())
            .unwrap()
            .intact
    );
}

#[test]
fn repair_refuses_a_log_cut_behind_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    write_batches(&paths, &[batch("a", 1), batch("b", 1)]);
    let bytes = fs::read(paths.log()).unwrap();
    fs::write(paths.log(), &bytes[..bytes.len() - 5]).unwrap();
    let error = repair_log(&paths).unwrap_err();
    assert!(
        matches!(
            error,
            RepairError::CheckpointAhead {
                checkpoint_seq: 1,
                events: 1,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        fs::read(paths.log()).unwrap(),
        &bytes[..bytes.len() - 5],
        "nothing may change"
    );
}

#[test]
fn opening_refuses_a_log_that_diverges_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    write_batches(&paths, &[batch("a", 1)]);
    let checkpoint = read_checkpoint(&paths).unwrap().unwrap();
    // Another log of the same length put in the first one's place.
    let other = tempfile::tempdir().unwrap();
    write_batches(&log_in(other.path()), &[batch("b", 1)]);
    fs::copy(other.path().join("events.jsonl"), paths.log()).unwrap();
    let error = LogWriter::open(&paths).err().unwrap();
    assert!(
        matches!(error, OpenError::CheckpointDiverges { seq, .. } if seq == checkpoint.seq),
        "{error}"
    );
}

#[test]
fn a_lagging_checkpoint_is_caught_up_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    write_batches(&paths, &[batch("a", 1)]);
    let old_checkpoint = fs::read(paths.checkpoint()).unwrap();
    let mut writer = LogWriter::open(&paths).unwrap();
    writer
        .append(Expected::Seq(1), at(1), &batch("b", 2))
        .unwrap();
    // A crash between the log's fsync and the checkpoint's rename leaves the old checkpoint.
    fs::write(paths.checkpoint(), &old_checkpoint).unwrap();
    let report = verify_log(&paths, VerifyOptions::all_cores()).unwrap();
    assert!(report.intact);
    assert!(report
        .findings
        .iter()
        .any(|f| f.problem == Problem::Log(LogFault::CheckpointLags { events_behind: 2 })));
    let writer = LogWriter::open(&paths).unwrap();
    assert_eq!(
        read_checkpoint(&paths).unwrap().unwrap().seq,
        writer.head().unwrap().seq
    );
}

/// Fails the `fail_at`-th I/O call: a failing write keeps `keep_per_mille`‰ of its bytes.
struct FaultyIo {
    calls: Arc<Mutex<usize>>,
    fail_at: usize,
    keep_per_mille: usize,
}

impl FaultyIo {
    fn due(&mut self) -> bool {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        *calls == self.fail_at
    }
}

impl LogIo for FaultyIo {
    fn write_all(&mut self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        if self.due() {
            let keep = bytes.len() * self.keep_per_mille / 1000;
            file.write_all(&bytes[..keep])?;
            return Err(io::Error::other("injected write failure"));
        }
        file.write_all(bytes)
    }

    fn sync(&mut self, file: &File) -> io::Result<()> {
        if self.due() {
            return Err(io::Error::other("injected fsync failure"));
        }
        file.sync_data()
    }
}

#[test]
fn an_fsync_error_poisons_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let paths = log_in(dir.path());
    let io = FaultyIo {
        calls: Arc::default(),
        fail_at: 2,
        keep_per_mille: 0,
    };
    let mut writer = LogWriter::open_with_io(&paths, Box::new(io)).unwrap();
    let error = writer
        .append(Expected::Seq(0), at(0), &batch("a", 1))
        .unwrap_err();
    assert!(matches!(error, AppendError::Sync { .. }), "{error}");
    let error = writer
        .append(Expected::Seq(0), at(0), &batch("b", 1))
        .unwrap_err();
    assert!(matches!(error, AppendError::Poisoned { .. }), "{error}");
    // Reopened, the log shows what the failed fsync left; a retry of that batch is recognised.
    let mut reopened = LogWriter::open(&paths).unwrap();
    let retry = reopened
        .append(Expected::Seq(0), at(1), &batch("a", 1))
        .unwrap();
    assert_eq!(retry.outcome, AppendOutcome::AlreadyPresent);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A redb-style model test: appends against a `Vec` model, with a crash at a random I/O call.
    #[test]
    fn crashes_at_any_write_or_fsync_keep_whole_batches_only(
        sizes in prop::collection::vec(1usize..4, 1..8),
        fail_at in 1usize..24,
        keep_per_mille in 0usize..=1000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let paths = log_in(dir.path());
        let io = FaultyIo { calls: Arc::default(), fail_at, keep_per_mille };
        let mut writer = LogWriter::open_with_io(&paths, Box::new(io)).unwrap();
        let mut model: Vec<NewEvent> = Vec::new();
        for (index, size) in sizes.iter().enumerate() {
            let events = batch(&format!("b{index}"), *size);
            match writer.append(Expected::Seq(model.len() as u64), at(index as i64), &events) {
                Ok(appended) => {
                    prop_assert_eq!(appended.first_seq, model.len() as u64);
                    model.extend(events);
                }
                Err(AppendError::Write { .. } | AppendError::Sync { .. }) => {
                    // Crash: drop the writer, repair whatever was torn, and look.
                    drop(writer);
                    repair_log(&paths).unwrap();
                    let recovered = contents(&read_all(&paths));
                    let with_batch = new_contents(model.iter().chain(&events));
                    prop_assert!(
                        recovered == new_contents(&model) || recovered == with_batch,
                        "recovered a partial batch"
                    );
                    // Retrying the same batch never duplicates it.
                    writer = LogWriter::open(&paths).unwrap();
                    let retried = writer.append(Expected::Seq(model.len() as u64), at(index as i64), &events).unwrap();
                    let expected_outcome = if recovered == with_batch { AppendOutcome::AlreadyPresent } else { AppendOutcome::Written };
                    prop_assert_eq!(retried.outcome, expected_outcome);
                    model.extend(events);
                }
                Err(other) => return Err(TestCaseError::fail(other.to_string())),
            }
        }
        drop(writer);
        prop_assert_eq!(contents(&read_all(&paths)), new_contents(&model));
        prop_assert!(verify_log(&paths, VerifyOptions::all_cores()).unwrap().intact);
    }
}
