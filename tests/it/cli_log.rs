//! `omk log verify` and `omk log repair` end to end: exit codes, stdout, and stderr pinned exactly.
// Tests run the real binary as a process.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::fs;
use std::path::Path;

use std::process::Command;

fn omk() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omk"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// Runs omk and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = omk().args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Copies a fixture case into a temporary directory, for commands that change it.
fn copy_case(case: &str) -> tempfile::TempDir {
    let target = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/logs")
        .join(case);
    copy_dir(&source, target.path());
    target
}

fn copy_dir(source: &Path, target: &Path) {
    for entry in fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let destination = target.join(path.file_name().unwrap());
        if path.is_dir() {
            fs::create_dir_all(&destination).unwrap();
            copy_dir(&path, &destination);
        } else {
            fs::copy(&path, &destination).unwrap();
        }
    }
}

#[test]
fn verify_an_intact_log_exits_0_with_one_line() {
    let expected = "ok: fixtures/logs/valid/events.jsonl intact: 6 events, head seq 5 (911ece2b3eea…), 1 artifact checked; Merkle root dfe41b6eaea2… at 6 events\n";
    assert_eq!(
        run(&["log", "verify", "fixtures/logs/valid"]),
        (0, expected.to_owned(), String::new())
    );
    let by_file = run(&["log", "verify", "fixtures/logs/valid/events.jsonl"]);
    assert_eq!(by_file, (0, expected.to_owned(), String::new()));
}

#[test]
fn verify_a_tampered_log_exits_1_naming_seq_byte_and_cause() {
    let (code, stdout, stderr) = run(&["log", "verify", "fixtures/logs/flipped-byte"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        "omk: event log corrupt at seq 2 (byte 1030) in fixtures/logs/flipped-byte/events.jsonl: hash mismatch: stored b8dd2e63a5f3…, bytes hash to b179f51537bb…\n\
         hint: the log was changed after it was written: restore it from a copy; appends are refused until it verifies\n"
    );
}

#[test]
fn verify_a_truncated_log_exits_1_against_its_checkpoint() {
    let (code, _, stderr) = run(&["log", "verify", "fixtures/logs/truncated"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.lines().next().unwrap(),
        "omk: event log truncated at seq 5 (byte 2014) in fixtures/logs/truncated/events.jsonl: truncated: the checkpoint vouches for events through seq 5, but the log ends after 5 complete events"
    );
}

#[test]
fn verify_reports_a_lagging_checkpoint_as_a_note_and_passes() {
    let (code, stdout, stderr) = run(&["log", "verify", "fixtures/logs/checkpoint-lags"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert_eq!(
        stderr,
        "note: the head checkpoint lags the log by 2 events (the next append refreshes it)\n"
    );
}

#[test]
fn verify_json_is_the_pinned_report() {
    for case in ["valid", "torn", "artifact-missing"] {
        let (code, stdout, _) = run(&[
            "log",
            "verify",
            &format!("fixtures/logs/{case}"),
            "--format",
            "json",
        ]);
        let pinned = fs::read_to_string(format!(
            "{}/fixtures/logs/{case}/verify.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(stdout, pinned, "case {case}");
        assert_eq!(code, if case == "valid" { 0 } else { 1 });
    }
}

#[test]
fn verify_a_missing_path_exits_2_with_a_hint() {
    let (code, stdout, stderr) = run(&["log", "verify", "no/such/goal"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert_eq!(
        stderr,
        "omk: cannot open no/such/goal: No such file or directory (os error 2)\n\
         hint: pass an events.jsonl file or the goal directory that holds one\n"
    );
}

#[test]
fn bad_usage_exits_2() {
    let (code, _, stderr) = run(&["log", "verify"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("required arguments were not provided"),
        "{stderr}"
    );
}

#[test]
fn repair_moves_a_torn_tail_aside_and_the_log_then_verifies() {
    let dir = copy_case("torn");
    let path = dir.path().to_str().unwrap();
    let (code, _, stderr) = run(&["log", "verify", path]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("hint: run `omk log repair {path}`")),
        "{stderr}"
    );

    let (code, stdout, stderr) = run(&["log", "repair", path]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout,
        format!("repaired {path}/events.jsonl: moved 26 torn bytes from byte 2342 to {path}/events.torn-2342; 6 events kept\n")
    );
    assert_eq!(
        fs::read(dir.path().join("events.torn-2342")).unwrap(),
        b"{\"v\":1,\"seq\":6,\"ts\":\"2026-"
    );
    assert_eq!(run(&["log", "verify", path]).0, 0);
    let (code, stdout, _) = run(&["log", "repair", path]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!("nothing to repair: {path}/events.jsonl has no torn tail (6 events)\n")
    );
}

#[test]
fn repair_refuses_a_corrupt_log_and_changes_nothing() {
    let dir = copy_case("flipped-byte");
    let path = dir.path().to_str().unwrap();
    let before = fs::read(dir.path().join("events.jsonl")).unwrap();
    let (code, stdout, stderr) = run(&["log", "repair", path]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        stderr.starts_with(&format!(
            "omk: refused to repair {path}/events.jsonl: event log corrupt at seq 2 (byte 1030)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&format!(
            "hint: run `omk log verify {path}` for the full report\n"
        )),
        "{stderr}"
    );
    assert_eq!(fs::read(dir.path().join("events.jsonl")).unwrap(), before);
}

#[test]
fn verify_of_a_read_only_copy_works() {
    let dir = copy_case("valid");
    for entry in fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let mut permissions = fs::metadata(&path).unwrap().permissions();
            permissions.set_readonly(true);
            fs::set_permissions(&path, permissions).unwrap();
        }
    }
    let names = |dir: &Path| {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = names(dir.path());
    assert_eq!(run(&["log", "verify", dir.path().to_str().unwrap()]).0, 0);
    assert_eq!(
        names(dir.path()),
        before,
        "verify must not create files (no lock file)"
    );
}
