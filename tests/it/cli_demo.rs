//! `omk demo`, the README's first command: a whole goal on a fresh machine with nothing but
//! git — planning, the bundled scripted agent in a real worktree, real gates, review, proof
//! and replay — ending `ready` with an intact replay, and everything left on disk.
// Tests drive real processes: the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::process::Command;

#[test]
fn the_demo_runs_a_whole_goal_to_ready_and_leaves_it_to_inspect() {
    let parent = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(["demo", "--dir", parent.path().to_str().unwrap()])
        .env_remove("OMK_HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("The agent is SCRIPTED"), "{stdout}");
    assert!(
        stdout
            .contains("verified: gate `test` failed on the base commit, passed on the goal's tree"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verdict: READY") && stdout.contains("replay --verify: intact"),
        "{stdout}"
    );
    let demo = std::fs::read_dir(parent.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let repo = demo.join("repo");
    let status = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(["goal", "proof", "--format", "json"])
        .current_dir(&repo)
        .env_remove("OMK_HOME")
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "the proof is ready from the repository too"
    );
    // The fix landed on `main`, which the demo repository has checked out: one commit on the
    // base whose message names the goal, and a checkout with nothing left over.
    assert!(stdout.contains("landed: on main at "), "{stdout}");
    let calc = std::fs::read_to_string(repo.join("calc.sh")).unwrap();
    assert!(
        calc.contains("$1 + $2") && !calc.contains("$1 - $2"),
        "{calc}"
    );
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(git(&["rev-list", "--count", "main"]).trim(), "2");
    assert!(git(&["log", "-1", "--format=%B"]).contains("Omk-Goal: g-"));
    assert_eq!(git(&["status", "--porcelain", "--untracked-files=no"]), "");
}
