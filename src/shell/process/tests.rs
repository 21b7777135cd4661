//! The supervisor with real processes: leftovers holding the output, detached grandchildren,
//! a process that ignores SIGTERM, output over the cap, huge and missing deadlines, a command
//! that does not exist, and stop requests. Every test checks that nothing it started survives.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::*;
use crate::shell::procfs;

fn sh(script: &str, dir: &Path) -> Spec {
    let mut spec = Spec::new("sh", &["-c", script], dir);
    spec.deadline = Duration::from_secs(600);
    spec
}

/// Returns whether process `pid` is gone (or a zombie waiting for its reaper).
fn is_dead(pid: u32) -> bool {
    procfs::stat(pid).is_none_or(|stat| matches!(stat.state, 'Z' | 'X'))
}

/// Returns the pids a script printed, one per line, after `pid:`.
fn printed_pids(exit: &Exit) -> Vec<u32> {
    String::from_utf8_lossy(&exit.stdout.bytes)
        .lines()
        .filter_map(|line| line.strip_prefix("pid:")?.trim().parse().ok())
        .collect()
}

fn in_runtime<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_background_child_holding_stdout_is_killed_when_the_leader_exits() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let exit = run(sh("sleep 3600 & echo pid:$!; echo started", dir.path())).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "waited for the leftover: {:?}",
        started.elapsed()
    );
    assert!(exit.success());
    assert_eq!(exit.ending, Ending::Exited);
    assert_eq!(
        exit.leftovers,
        Leftovers {
            killed: 1,
            survivors: 0
        }
    );
    let pids = printed_pids(&exit);
    assert_eq!(pids.len(), 1);
    assert!(is_dead(pids[0]), "the background sleep survived");
    assert!(String::from_utf8_lossy(&exit.stdout.bytes).ends_with("started\n"));
}

#[test]
fn a_detached_grandchild_outside_the_group_is_found_by_its_tag_and_killed() {
    let dir = tempfile::tempdir().unwrap();
    let script = "setsid sleep 3600 >/dev/null 2>&1 < /dev/null & echo pid:$!; sleep 0.2";
    let exit = run(sh(script, dir.path())).unwrap();
    let pids = printed_pids(&exit);
    assert_eq!(pids.len(), 1);
    assert!(is_dead(pids[0]), "the setsid grandchild survived");
    assert_eq!(exit.leftovers.killed, 1);
    assert_eq!(exit.leftovers.survivors, 0);
}

#[test]
fn a_process_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sh(
        "trap '' TERM; echo pid:$$; while :; do sleep 0.1; done",
        dir.path(),
    );
    spec.deadline = Duration::from_millis(500);
    spec.grace = Duration::from_millis(300);
    let started = Instant::now();
    let exit = run(spec).unwrap();
    assert_eq!(exit.ending, Ending::TimedOut);
    assert_eq!(exit.signal, Some(libc::SIGKILL), "{exit:?}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(printed_pids(&exit).into_iter().all(is_dead));
}

#[test]
fn output_over_the_cap_is_counted_and_flagged_never_silently_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sh("head -c 100000000 /dev/zero; echo done >&2", dir.path());
    spec.stdout = Capture::memory(1 << 20);
    let exit = run(spec).unwrap();
    assert!(exit.success());
    assert_eq!(exit.stdout.total, 100_000_000);
    assert_eq!(exit.stdout.bytes.len(), 1 << 20);
    assert!(exit.stdout.truncated);
    assert!(!exit.stderr.truncated);
    assert_eq!(exit.stderr.tail.last_line(), "done");

    let store = crate::log::artifacts::ArtifactStore::new(dir.path().join("artifacts"));
    let mut spec = sh("head -c 100000000 /dev/zero", dir.path());
    spec.stdout = Capture::artifact(store.clone(), "big", "application/octet-stream", 8 << 20);
    let exit = run(spec).unwrap();
    let artifact = exit.stdout.artifact.unwrap();
    assert_eq!(artifact.size, 8 << 20);
    assert!(exit.stdout.truncated);
    assert_eq!(
        std::fs::metadata(store.path_of(&artifact.hash))
            .unwrap()
            .len(),
        8 << 20
    );
}

#[test]
fn a_deadline_of_u64_max_seconds_neither_panics_nor_waits() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sh("echo ok", dir.path());
    spec.deadline = Duration::from_secs(u64::MAX);
    let exit = run(spec).unwrap();
    assert!(exit.success());
    assert_eq!(exit.stdout.bytes, b"ok\n");
}

#[test]
fn a_command_that_does_not_exist_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = run(Spec::new("omk-no-such-program", &[], dir.path())).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ProcessError::Spawn { .. }), "{text}");
    assert!(
        text.starts_with("cannot start `omk-no-such-program` in "),
        "{text}"
    );
    assert!(text.contains("No such file or directory"), "{text}");
}

#[test]
fn a_stop_request_ends_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let exit = in_runtime(async move {
        let running = start(sh("sleep 3600 & echo pid:$!; sleep 3600", dir.path())).unwrap();
        let waiting = tokio::spawn(running.wait(stop_rx));
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.send(true).unwrap();
        waiting.await.unwrap().unwrap()
    });
    assert_eq!(exit.ending, Ending::Stopped);
    assert!(exit.duration < Duration::from_secs(60));
    let pids = printed_pids(&exit);
    assert_eq!(pids.len(), 1);
    assert!(is_dead(pids[0]) && is_dead(exit.pid));
}

#[test]
fn a_child_gets_its_directory_as_pwd_its_environment_and_its_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sh("echo \"$PWD\"; echo \"$GREETING\"; cat", dir.path());
    spec.env = vec![("GREETING".to_owned(), "hello".to_owned())];
    spec.stdin = Some(b"from stdin\n".to_vec());
    let exit = run(spec).unwrap();
    let expected = format!("{}\nhello\nfrom stdin\n", dir.path().display());
    assert_eq!(String::from_utf8_lossy(&exit.stdout.bytes), expected);
}

#[test]
fn lines_reach_the_observer_as_they_stream() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let mut spec = sh("printf 'one\\ntwo\\nthree'", dir.path());
    spec.stdout = Capture::memory(1 << 20).observe_lines(move |line| {
        sink.lock()
            .unwrap()
            .push(String::from_utf8_lossy(line).into_owned());
    });
    run(spec).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["one\n", "two\n", "three"]);
}

#[test]
fn dropping_a_supervision_unseen_kills_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let script = format!(
        "sleep 3600 & echo $! > {pids}; setsid sleep 3600 & echo $! >> {pids}; sleep 3600",
        pids = pid_file.display()
    );
    let leader = in_runtime(async {
        let running = start(sh(&script, dir.path())).unwrap();
        let leader = running.pid();
        while std::fs::read_to_string(&pid_file).map_or(0, |pids| pids.lines().count()) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // An error path drops the supervision without waiting for it.
        drop(running);
        leader
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let pids: Vec<u32> = std::fs::read_to_string(&pid_file)
        .unwrap()
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .chain([leader])
        .collect();
    while !pids.iter().all(|pid| is_dead(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pids.iter().all(|pid| is_dead(*pid)), "{pids:?} survived");
}

#[test]
fn output_written_while_stopping_is_read_so_the_writer_is_not_blocked() {
    let dir = tempfile::tempdir().unwrap();
    // On SIGTERM it writes far more than a pipe holds, then exits: the pipe must be drained.
    let mut spec = sh(
        "trap 'head -c 1000000 /dev/zero; exit 0' TERM; sleep 3600 & wait",
        dir.path(),
    );
    spec.deadline = Duration::from_millis(300);
    spec.grace = Duration::from_secs(300);
    let started = Instant::now();
    let exit = run(spec).unwrap();
    assert_eq!(exit.ending, Ending::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(exit.stdout.total, 1_000_000);
    assert!(!exit.stdout.unfinished);
}
