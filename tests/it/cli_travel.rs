//! Goals that travel through git (issue 13): `omk goal push` stores a goal under
//! `refs/omk/goals/<id>` and pushes it to a bare remote; another clone fetches it and verifies
//! the same run; later events arrive as an extension; two clones that went on with a goal apart
//! are refused both ways, and nothing held is changed. `log::adopt` is tested on its own too.
// Tests drive real processes: git and the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{at, event, git, log_in, write_batches};
use omk::log::adopt::{adopt, AdoptError, Adopted};
use omk::log::writer::Expected;
use omk::log::LogWriter;

fn omk(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(args)
        .current_dir(dir)
        .env_remove("OMK_HOME")
        .env_remove("OMK_TEST_NOW")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A bare remote, clone `a` with a planned goal, and clone `b` of the remote.
struct Team {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    a: PathBuf,
    b: PathBuf,
    goal: String,
}

impl Team {
    fn new() -> Team {
        let first = common::git_repo(&[("src/list.rs", "pub fn list() {}\n")]);
        let shared = tempfile::tempdir().unwrap();
        let remote = shared.path().join("remote.git");
        fs::create_dir(&remote).unwrap();
        git(&remote, &["init", "-q", "--bare"]);
        let a = first.path().to_path_buf();
        git(
            &a,
            &["remote", "add", "origin", &remote.display().to_string()],
        );
        git(&a, &["push", "-q", "origin", "main"]);
        let (code, _, stderr) = omk(
            &a,
            &["goal", "plan", "Add a --json flag to the list command"],
        );
        assert_eq!(code, 0, "{stderr}");
        let b = shared.path().join("b");
        git(
            shared.path(),
            &["clone", "-q", &remote.display().to_string(), "b"],
        );
        let goal = fs::read_dir(a.join(".omk/goals"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .into_owned();
        Team {
            _dirs: (first, shared),
            a,
            b,
            goal,
        }
    }

    fn log(&self, clone: &Path) -> Vec<u8> {
        fs::read(
            clone
                .join(".omk/goals")
                .join(&self.goal)
                .join("events.jsonl"),
        )
        .unwrap()
    }
}

#[test]
fn a_pushed_goal_is_fetched_by_another_clone_which_verifies_the_same_run() {
    let team = Team::new();
    let (code, stdout, stderr) = omk(&team.a, &["goal", "push"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "pushed goal {} to origin as refs/omk/goals/{}: log head seq ",
            team.goal, team.goal
        )),
        "{stdout}"
    );
    let (code, stdout, stderr) = omk(&team.b, &["goal", "fetch"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!("{}: new, up to seq ", team.goal)),
        "{stdout}"
    );
    assert_eq!(team.log(&team.b), team.log(&team.a));
    let (code, stdout, _) = omk(&team.b, &["replay", &team.goal, "--verify"]);
    assert_eq!(code, 0, "{stdout}");
    let status = |clone: &Path| omk(clone, &["goal", "status", &team.goal, "--format", "json"]).1;
    assert_eq!(status(&team.b), status(&team.a));
    // Only the log, its checkpoint and its artifacts travel.
    let stored = git(
        &team.a,
        &[
            "ls-tree",
            "-r",
            "--name-only",
            &format!("refs/omk/goals/{}", team.goal),
        ],
    );
    assert!(
        stored.lines().all(|path| path == "events.jsonl"
            || path == "events.head.json"
            || path.starts_with("artifacts/")),
        "{stored}"
    );

    // Later events arrive as an extension of what the other clone holds.
    assert_eq!(
        omk(&team.a, &["goal", "pause", &team.goal, "--reason", "lunch"]).0,
        0
    );
    assert_eq!(omk(&team.a, &["goal", "push"]).0, 0);
    let (code, stdout, _) = omk(&team.b, &["goal", "fetch", &team.goal]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("{}: extended from seq ", team.goal)),
        "{stdout}"
    );
    assert_eq!(team.log(&team.b), team.log(&team.a));
    let (code, stdout, _) = omk(&team.b, &["goal", "fetch"]);
    assert_eq!(
        (code, stdout.lines().next().unwrap()),
        (0, format!("{}: up to date", team.goal).as_str())
    );
    // The other clone can go on with the goal and push it back.
    assert_eq!(omk(&team.b, &["goal", "resume", &team.goal]).0, 0);
    let (code, _, stderr) = omk(&team.b, &["goal", "push"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = omk(&team.a, &["goal", "fetch"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("extended from seq"), "{stdout}");
    assert_eq!(team.log(&team.a), team.log(&team.b));
}

#[test]
fn clones_that_went_on_apart_are_refused_both_ways_and_keep_what_they_hold() {
    let team = Team::new();
    assert_eq!(omk(&team.a, &["goal", "push"]).0, 0);
    assert_eq!(omk(&team.b, &["goal", "fetch"]).0, 0);
    assert_eq!(omk(&team.a, &["goal", "pause", &team.goal]).0, 0);
    assert_eq!(omk(&team.b, &["goal", "cancel", &team.goal]).0, 0);
    let held = team.log(&team.b);
    assert_eq!(omk(&team.a, &["goal", "push"]).0, 0);

    let (code, stdout, _) = omk(&team.b, &["goal", "fetch"]);
    assert_eq!(code, 1);
    let seq = held.iter().filter(|byte| **byte == b'\n').count() - 1;
    assert_eq!(
        stdout,
        format!("{}: refused: its log and the one here differ from seq {seq} on (two clones went on with the goal apart); nothing was changed here\n", team.goal)
    );
    assert_eq!(team.log(&team.b), held);

    let (code, _, stderr) = omk(&team.b, &["goal", "push"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with(&format!(
            "omk: `origin` holds another history of goal {} than this clone: the push was refused",
            team.goal
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: fetch first (`omk goal fetch {} --remote origin`)",
            team.goal
        )),
        "{stderr}"
    );
    let (code, _, stderr) = omk(&team.b, &["goal", "push", "--remote", "nowhere"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "omk: there is no remote `nowhere` in this repository\nhint: add one with `git remote add <name> <url>`, or pass --remote\n"
    );
}

/// Writes a log of `batches` one-event batches of kind `note` (payload `{"n": i}`) in `dir`.
fn note_log(dir: &Path, batches: usize, offset: usize) -> omk::log::LogPaths {
    let paths = log_in(dir);
    let events: Vec<Vec<_>> = (0..batches)
        .map(|index| {
            vec![event(
                &format!("ev-{}", index + offset),
                "note",
                serde_json::json!({ "n": index + offset }),
            )]
        })
        .collect();
    write_batches(&paths, &events);
    paths
}

#[test]
fn adopting_a_copy_only_ever_appends_what_it_has_beyond_the_log_here() {
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = note_log(copy_dir.path(), 3, 0);
    let here_dir = tempfile::tempdir().unwrap();
    let here = log_in(&here_dir.path().join("goal"));

    assert!(matches!(adopt(&here, &copy).unwrap(), Adopted::New { head } if head.seq == 2));
    assert_eq!(fs::read(here.log()).unwrap(), fs::read(copy.log()).unwrap());
    assert!(matches!(adopt(&here, &copy).unwrap(), Adopted::Same { .. }));

    let mut writer = LogWriter::open(&copy).unwrap();
    writer
        .append(
            Expected::Seq(3),
            at(9),
            &[event("ev-3", "note", serde_json::json!({ "n": 3 }))],
        )
        .unwrap();
    let extended = adopt(&here, &copy).unwrap();
    assert!(
        matches!(extended, Adopted::Extended { from: Some(from), to } if from.seq == 2 && to.seq == 3),
        "{extended:?}"
    );
    assert_eq!(fs::read(here.log()).unwrap(), fs::read(copy.log()).unwrap());
    assert_eq!(
        fs::read(here.checkpoint()).unwrap(),
        fs::read(copy.checkpoint()).unwrap()
    );
    assert!(
        omk::log::verify_log(&here, omk::log::VerifyOptions::all_cores())
            .unwrap()
            .intact
    );

    let shorter_dir = tempfile::tempdir().unwrap();
    let shorter = note_log(shorter_dir.path(), 2, 0);
    assert!(matches!(
        adopt(&here, &shorter).unwrap(),
        Adopted::Ahead { .. }
    ));

    let other_dir = tempfile::tempdir().unwrap();
    let other = note_log(other_dir.path(), 5, 10);
    let before = fs::read(here.log()).unwrap();
    assert!(matches!(
        adopt(&here, &other),
        Err(AdoptError::Diverged { seq: 0, .. })
    ));
    assert_eq!(
        fs::read(here.log()).unwrap(),
        before,
        "a refused copy changes nothing"
    );

    // A damaged copy is refused before anything is written.
    let mut bytes = fs::read(copy.log()).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 1;
    fs::write(copy.log(), bytes).unwrap();
    assert!(matches!(
        adopt(&here, &copy),
        Err(AdoptError::CopyDamaged { .. })
    ));
    assert_eq!(fs::read(here.log()).unwrap(), before);
}
