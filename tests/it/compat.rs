//! Issue 19: old logs stay readable.
//!
//! `fixtures/compat/<release>/` holds goals that release wrote, frozen: their logs,
//! checkpoints, artifacts and the projections beside them are never regenerated. `MANIFEST`
//! lists each frozen file's BLAKE3 hash, and `FROZEN` below pins the hash of each `MANIFEST`,
//! so a test fails if any frozen file changes. Each case's `expected/` holds what the current
//! build derives from it (the folded state, status, show, proof, timeline and
//! `replay --verify`); those change only by the deliberate step in `fixtures/compat/README.md`.
//!
//! Also here: a test-only kind whose payload changed shape twice, upcast end to end through a
//! real log; goals with an event kind, or a payload version, from a newer omk, which verify but
//! are not folded; and projections an older build wrote, rebuilt quietly.
// Tests drive real processes: the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::copy_tree;
use omk::event::version::{current_version, decode_payload, Upcaster, Versioned};
use omk::event::{DecodeError, Event, KNOWN_KINDS};
use omk::log::writer::Expected;
use omk::log::{EventId, EventKind, LogPaths, LogReader, LogWriter, NewEvent};
use omk::project::proof::PROOF_FORMAT;
use omk::project::snapshot::SNAPSHOT_FORMAT;
use omk::project::task_graph::TASK_GRAPH_FORMAT;
use omk::store::StateDir;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Every frozen release, with the BLAKE3 hash of its `MANIFEST`.
const FROZEN: &[(&str, &str)] = &[(
    "0.1.0",
    "0d781467d93ad386fbd87cd50aa19bb37700ce568883dea2e31ea8017195d069",
)];

/// The event kinds omk 0.1.0 knew: its fixtures hold each of them at least once.
const KINDS_OF_0_1_0: [&str; 29] = [
    "run_started",
    "oracle_checked",
    "phase_entered",
    "artifact_recorded",
    "planner_fell_back",
    "tasks_planned",
    "plan_edited",
    "task_transitioned",
    "task_retried",
    "task_leased",
    "task_evidence_recorded",
    "usage_recorded",
    "budget_extended",
    "goal_paused",
    "goal_resumed",
    "goal_cancelled",
    "goal_concluded",
    "run_failed",
    "integration_decided",
    "agent_started",
    "agent_finished",
    "changes_recorded",
    "worktree_removed",
    "result_built",
    "result_conflicted",
    "gate_started",
    "gate_finished",
    "review_recorded",
    "round_started",
];

/// The instant the views are rendered at: after every frozen goal was written.
const NOW: &str = "2026-12-05T00:00:00Z";

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compat")
}

/// Returns the names of the directories in `dir`, sorted.
fn subdirectories(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Returns the releases under `fixtures/compat/`, oldest name first.
fn releases() -> Vec<String> {
    subdirectories(&compat_dir())
}

/// Returns the cases of a release (each a state directory), by name.
fn cases(release: &str) -> Vec<String> {
    subdirectories(&compat_dir().join(release))
}

/// Returns every file under `dir` by its path relative to `dir` (with `/`), sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

/// Returns whether a file of a release is frozen: everything but `MANIFEST` and `expected/`.
fn is_frozen(relative: &str) -> bool {
    relative != "MANIFEST" && !relative.split('/').any(|part| part == "expected")
}

/// Returns the `MANIFEST` of a release directory as it stands: `<blake3>  <path>` per file.
fn manifest_of(dir: &Path) -> String {
    files_under(dir)
        .into_iter()
        .filter(|relative| is_frozen(relative))
        .map(|relative| {
            let hash = blake3::hash(&fs::read(dir.join(&relative)).unwrap());
            format!("{}  {relative}\n", hash.to_hex())
        })
        .collect()
}

#[test]
fn frozen_fixtures_are_unchanged() {
    let freezing = std::env::var_os("OMK_FREEZE_COMPAT").is_some();
    for release in releases() {
        let dir = compat_dir().join(&release);
        let manifest_path = dir.join("MANIFEST");
        if freezing && !manifest_path.exists() {
            fs::write(&manifest_path, manifest_of(&dir)).unwrap();
        }
        let manifest = fs::read(&manifest_path).unwrap_or_else(|_| {
            panic!("fixtures/compat/{release} has no MANIFEST: freeze it as fixtures/compat/README.md says")
        });
        let digest = blake3::hash(&manifest).to_hex().to_string();
        let pinned = FROZEN
            .iter()
            .find(|(name, _)| *name == release)
            .map(|(_, digest)| *digest);
        assert_eq!(
            pinned,
            Some(digest.as_str()),
            "fixtures/compat/{release}/MANIFEST is not the one FROZEN pins: a frozen release never changes (a new one is added as (\"{release}\", \"{digest}\"))"
        );
        let stored = String::from_utf8(manifest).unwrap();
        let actual = manifest_of(&dir);
        for (listed, now) in stored.lines().zip(actual.lines()) {
            assert_eq!(
                listed, now,
                "fixtures/compat/{release}: a frozen file changed"
            );
        }
        assert_eq!(
            stored, actual,
            "fixtures/compat/{release}: a frozen file was added or removed"
        );
    }
    assert!(
        FROZEN
            .iter()
            .all(|(release, _)| compat_dir().join(release).is_dir()),
        "a frozen release's directory is missing"
    );
}

#[test]
fn the_oldest_release_holds_every_kind_it_knew_and_each_decodes_as_written() {
    let mut seen = std::collections::BTreeSet::new();
    for release in releases() {
        for case in cases(&release) {
            let goals = compat_dir().join(&release).join(&case).join("goals");
            for goal in fs::read_dir(goals).unwrap() {
                let paths = LogPaths::resolve(&goal.unwrap().path());
                for raw in LogReader::open(&paths).unwrap() {
                    let raw = raw.unwrap();
                    seen.insert(raw.kind().to_owned());
                    let event = Event::decode(&raw)
                        .unwrap_or_else(|error| panic!("{release}/{case}: {error}"));
                    // A kind whose version has not moved since re-encodes to the stored bytes.
                    let again = event.to_new_event(EventId::new(raw.id()).unwrap()).unwrap();
                    if version_named(again.data()) == version_named(raw.data()) {
                        assert_eq!(again.data().get(), raw.data().get(), "{release}/{case}");
                    }
                }
            }
        }
    }
    for kind in KINDS_OF_0_1_0 {
        assert!(seen.contains(kind), "no frozen goal holds `{kind}`");
        assert!(KNOWN_KINDS.contains(&kind), "omk no longer knows `{kind}`");
    }
}

fn version_named(data: &RawValue) -> Option<Value> {
    let fields: Map<String, Value> = serde_json::from_str(data.get()).unwrap();
    fields.get("v").cloned()
}

fn omk(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(args)
        .current_dir(home)
        .env("OMK_HOME", home)
        .env("OMK_TEST_NOW", NOW)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Returns the stdout of a command that must exit with one of `codes`.
fn output(home: &Path, args: &[&str], codes: &[i32]) -> String {
    let (code, stdout, stderr) = omk(home, args);
    assert!(codes.contains(&code), "{args:?} exited {code}: {stderr}");
    stdout
}

/// Returns a copy of a frozen case, without its `expected/`, and the id of its goal.
fn copy_of_case(release: &str, case: &str) -> (tempfile::TempDir, String) {
    let home = tempfile::tempdir().unwrap();
    copy_tree(
        &compat_dir().join(release).join(case).join("goals"),
        &home.path().join("goals"),
    );
    let ids = StateDir::new(home.path()).goal_ids().unwrap();
    assert_eq!(ids.len(), 1, "{release}/{case} holds one goal");
    (home, ids[0].clone())
}

/// Returns what the current build derives from a case: (name under expected/, bytes).
fn derived(home: &Path, goal: &str) -> Vec<(&'static str, String)> {
    let state = StateDir::new(home).goal(goal).load().unwrap().state;
    let both = [0, 1];
    let verified = output(home, &["replay", goal, "--verify"], &[0])
        .replace(&home.display().to_string(), "<home>");
    vec![
        ("state.json", omk::project::to_json(&state)),
        ("status.txt", output(home, &["goal", "status", goal], &[0])),
        (
            "status.json",
            output(home, &["goal", "status", goal, "--format", "json"], &[0]),
        ),
        (
            "show.json",
            output(home, &["goal", "show", goal, "--format", "json"], &[0]),
        ),
        (
            "proof.json",
            output(home, &["goal", "proof", goal, "--format", "json"], &both),
        ),
        ("proof.md", output(home, &["goal", "proof", goal], &both)),
        ("timeline.txt", output(home, &["replay", goal], &[0])),
        ("replay-verify.txt", verified),
    ]
}

#[test]
fn frozen_goals_fold_to_the_expected_state_and_views() {
    let updating = std::env::var_os("OMK_UPDATE_COMPAT").is_some()
        || std::env::var_os("OMK_FREEZE_COMPAT").is_some();
    for release in releases() {
        for case in cases(&release) {
            let expected_dir = compat_dir().join(&release).join(&case).join("expected");
            let (home, goal) = copy_of_case(&release, &case);
            for (name, text) in derived(home.path(), &goal) {
                let path = expected_dir.join(name);
                if updating {
                    fs::create_dir_all(&expected_dir).unwrap();
                    fs::write(&path, &text).unwrap();
                }
                let pinned = fs::read_to_string(&path).unwrap_or_default();
                assert_eq!(
                    text, pinned,
                    "fixtures/compat/{release}/{case}/expected/{name}: the current build derives something else from a frozen goal; if that change is intended, follow fixtures/compat/README.md"
                );
            }
        }
    }
}

/// Appends one event of `kind` with the payload `data` (JSON text) to the goal in `home`.
fn append_raw(home: &Path, goal: &str, kind: &str, data: &str) {
    let paths = StateDir::new(home).goal(goal).paths();
    let mut writer = LogWriter::open(&paths).unwrap();
    let event = NewEvent::new(
        EventId::new("ev-from-the-future").unwrap(),
        EventKind::new(kind.to_owned()).unwrap(),
        &RawValue::from_string(data.to_owned()).unwrap(),
    )
    .unwrap();
    let next = writer.position().next_seq;
    writer
        .append(Expected::Seq(next), common::at(864_000), &[event])
        .unwrap();
}

/// A goal that a newer omk went on with: the chain verifies, but this build folds nothing and
/// appends nothing, and says why in one line with what to do.
#[test]
fn a_goal_with_an_event_kind_from_a_newer_omk_verifies_but_is_not_folded() {
    for (kind, data, says) in [
        (
            "head_signed",
            r#"{"key":"ed25519:0f1e"}"#,
            "has kind `head_signed`, which omk 0.1.0 does not know",
        ),
        (
            "phase_entered",
            r#"{"v":2,"phase":"verifying","why":"a field 0.1.0 never wrote"}"#,
            "(`phase_entered`) has payload version 2, and omk 0.1.0 reads `phase_entered` up to version 1",
        ),
    ] {
        let (home, goal) = copy_of_case("0.1.0", "demo");
        let home = home.path();
        append_raw(home, &goal, kind, data);
        let dir = StateDir::new(home).goal(&goal).dir().to_path_buf();
        let (code, stdout, _) = omk(home, &["log", "verify", &dir.display().to_string()]);
        assert_eq!(code, 0, "{stdout}");
        let log = fs::read(dir.join("events.jsonl")).unwrap();
        for args in [
            vec!["goal", "status", goal.as_str()],
            vec!["goal", "proof", goal.as_str()],
            vec!["goal", "cancel", goal.as_str(), "--reason", "stop"],
            vec!["replay", goal.as_str(), "--verify"],
        ] {
            let (code, _, stderr) = omk(home, &args);
            assert_eq!(code, 2, "{args:?}: {stderr}");
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 2, "{args:?}: {stderr}");
            assert!(
                lines[0].starts_with("omk: cannot fold ")
                    && lines[0].contains("this goal was written by a newer omk: event seq 42 ")
                    && lines[0].ends_with(says),
                "{args:?}: {stderr}"
            );
            assert!(
                lines[1].starts_with("hint: upgrade omk to read it; `omk log verify ")
                    && lines[1].ends_with("` checks its chain without folding it"),
                "{args:?}: {stderr}"
            );
            assert!(!stderr.contains("damaged"), "{stderr}");
        }
        assert_eq!(
            fs::read(dir.join("events.jsonl")).unwrap(),
            log,
            "nothing appended"
        );
    }
}

/// Rewrites a projection file of `dir` as an older build wrote it.
fn age(dir: &Path, file: &str, edit: impl FnOnce(&mut Map<String, Value>)) {
    let path = dir.join(file);
    let mut value: Map<String, Value> =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    fs::write(&path, omk::project::to_json(&value)).unwrap();
}

/// The snapshot, task graph and proof as the build before stamps wrote them: the snapshot's
/// format was `v: 2`, and the others named no format.
fn age_every_projection(dir: &Path) {
    age(dir, "snapshot.json", |snapshot| {
        snapshot.remove("derived_by");
        snapshot.insert("v".to_owned(), Value::from(2));
    });
    for file in ["task-graph.json", "proof.json"] {
        age(dir, file, |value| {
            value.remove("derived_by");
        });
    }
}

/// Projections an older build wrote are rebuilt by the next view, silently; `replay --verify`
/// notes each one (not a divergence) and rebuilds it, unless its head is not in the log.
#[test]
fn projections_an_older_build_wrote_are_recognised_and_rebuilt() {
    let (home, goal) = copy_of_case("0.1.0", "demo");
    let home = home.path();
    let dir = StateDir::new(home).goal(&goal).dir().to_path_buf();
    let rebuilt = || -> Vec<String> {
        ["snapshot.json", "task-graph.json", "proof.json"]
            .iter()
            .map(|file| fs::read_to_string(dir.join(file)).unwrap())
            .collect()
    };
    // What this build writes beside the frozen log: the frozen files, brought to its formats.
    assert_eq!(omk(home, &["replay", &goal, "--verify"]).0, 0);
    let current = rebuilt();

    age_every_projection(&dir);
    let (code, _, stderr) = omk(home, &["goal", "status", &goal]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        rebuilt(),
        current,
        "a view rebuilds what an older build wrote"
    );

    age_every_projection(&dir);
    let (code, stdout, stderr) = omk(home, &["replay", &goal, "--verify"]);
    assert_eq!(code, 0, "{stderr}");
    let notes: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("note: "))
        .collect();
    let shown = |file: &str, formats: &str| {
        format!(
            "note: {}/{file}: written by an earlier omk ({formats}): its head is in the log; rebuilt",
            dir.display()
        )
    };
    assert_eq!(
        notes,
        [
            shown(
                "snapshot.json",
                &format!("format 2; this build writes {SNAPSHOT_FORMAT}")
            ),
            shown(
                "task-graph.json",
                &format!("format 0; this build writes {TASK_GRAPH_FORMAT}")
            ),
            shown(
                "proof.json",
                &format!("format 0; this build writes {PROOF_FORMAT}")
            ),
        ]
    );
    assert_eq!(rebuilt(), current);
    let (code, stdout, _) = omk(home, &["replay", &goal, "--verify"]);
    assert_eq!(code, 0);
    assert!(!stdout.contains("note:"), "{stdout}");

    // The same format from another omk version is compared byte for byte, stamp aside.
    let proof = fs::read_to_string(dir.join("proof.json")).unwrap();
    let stamped = "\"omk\": \"0.1.0\"";
    assert!(proof.contains(stamped), "{proof}");
    fs::write(
        dir.join("proof.json"),
        proof.replace(stamped, "\"omk\": \"0.0.9\""),
    )
    .unwrap();
    let (code, stdout, _) = omk(home, &["replay", &goal, "--verify"]);
    assert_eq!((code, stdout.contains("note:")), (0, false), "{stdout}");
    age(&dir, "proof.json", |proof| {
        proof["prompt"] = Value::from("Something else");
    });
    let (code, _, stderr) = omk(home, &["replay", &goal, "--verify"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("proof.json at /prompt: differs from what the log derives"),
        "{stderr}"
    );

    // An older projection that names a head the log does not hold is still a finding.
    age(&dir, "task-graph.json", |graph| {
        graph.remove("derived_by");
        graph["head"]["seq"] = Value::from(5);
    });
    let (code, _, stderr) = omk(home, &["replay", &goal, "--verify"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("task-graph.json: claims head seq 5 (")
            && stderr.contains("which is not in this log"),
        "{stderr}"
    );
}

// A test-only kind, `note_written`, whose payload changed shape twice: version 1 had `text`,
// version 2 renamed it `body`, version 3 added `pinned`. The functions below are the ones the
// `event_kinds!` table gives every real kind.

/// `note_written` as an imagined later build knows it: version 3.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoteWritten {
    body: String,
    pinned: bool,
}

fn body_from_text(mut fields: Map<String, Value>) -> Result<Map<String, Value>, String> {
    let text = fields.remove("text").ok_or("no `text`")?;
    fields.insert("body".to_owned(), text);
    Ok(fields)
}

fn unpinned(mut fields: Map<String, Value>) -> Result<Map<String, Value>, String> {
    fields.insert("pinned".to_owned(), Value::Bool(false));
    Ok(fields)
}

const NOTE_STEPS: &[Upcaster] = &[body_from_text, unpinned];

fn note(id: &str, data: &impl serde::Serialize) -> NewEvent {
    NewEvent::new(
        EventId::new(id).unwrap(),
        EventKind::new("note_written").unwrap(),
        data,
    )
    .unwrap()
}

fn raw(data: &str) -> Box<RawValue> {
    RawValue::from_string(data.to_owned()).unwrap()
}

fn decoded(data: &str, steps: &[Upcaster]) -> Result<NoteWritten, DecodeError> {
    decode_payload(7, "note_written", &raw(data), steps)
}

#[test]
fn a_payload_that_changed_shape_twice_is_upcast_from_a_real_log_without_rewriting_it() {
    let dir = tempfile::tempdir().unwrap();
    let paths = LogPaths::for_log(dir.path().join("events.jsonl"));
    let today = NoteWritten {
        body: "now".to_owned(),
        pinned: true,
    };
    let written_today = note("ev-3", &Versioned::new(current_version(NOTE_STEPS), &today));
    assert_eq!(
        written_today.data().get(),
        r#"{"v":3,"body":"now","pinned":true}"#
    );
    let batch = [
        note("ev-1", &raw(r#"{"text":"first"}"#)),
        note("ev-2", &raw(r#"{"v":2,"body":"second"}"#)),
        written_today,
    ];
    let mut writer = LogWriter::open(&paths).unwrap();
    writer
        .append(Expected::Seq(0), common::at(0), &batch)
        .unwrap();
    let stored = fs::read(paths.log()).unwrap();
    let notes: Vec<NoteWritten> = LogReader::open(&paths)
        .unwrap()
        .map(|raw| {
            let raw = raw.unwrap();
            decode_payload(raw.seq(), raw.kind(), raw.data(), NOTE_STEPS).unwrap()
        })
        .collect();
    let unpinned = |body: &str| NoteWritten {
        body: body.to_owned(),
        pinned: false,
    };
    assert_eq!(notes, [unpinned("first"), unpinned("second"), today]);
    assert_eq!(
        fs::read(paths.log()).unwrap(),
        stored,
        "decoding rewrote the log"
    );
}

#[test]
fn a_payload_version_from_the_future_is_refused_as_newer() {
    assert_eq!(
        decoded(
            r#"{"v":4,"body":"later","pinned":true,"colour":"red"}"#,
            NOTE_STEPS
        ),
        Err(DecodeError::NewerVersion {
            seq: 7,
            kind: "note_written".to_owned(),
            version: 4,
            known: 3,
        })
    );
    // A kind still at version 1 tells a newer payload from a bad one by its `v` too.
    let newer = decoded(r#"{"v":2,"body":"x","pinned":false}"#, &[]);
    assert!(
        matches!(
            newer,
            Err(DecodeError::NewerVersion {
                version: 2,
                known: 1,
                ..
            })
        ),
        "{newer:?}"
    );
    let bad = decoded(r#"{"body":"x"}"#, &[]);
    assert!(
        matches!(bad, Err(DecodeError::BadPayload { .. })),
        "{bad:?}"
    );
}

#[test]
fn a_payload_an_upcaster_cannot_take_is_a_bad_payload_naming_the_step() {
    let detail = |data: &str| match decoded(data, NOTE_STEPS) {
        Err(DecodeError::BadPayload { detail, .. }) => detail,
        other => panic!("expected a bad payload, got {other:?}"),
    };
    assert_eq!(
        detail(r#"{"words":"?"}"#),
        "cannot upcast version 1 to 2: no `text`"
    );
    assert_eq!(
        detail(r#"{"v":0,"body":"x"}"#),
        "`v` must be a whole number from 1, not 0"
    );
}

#[test]
fn the_schema_of_a_versioned_payload_requires_its_version() {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<NoteWritten>();
    let schema = omk::event::version::versioned_schema(schema, 3);
    let value = schema.as_value();
    assert_eq!(value["properties"]["v"]["const"], 3);
    assert_eq!(value["required"][0], "v");
}
