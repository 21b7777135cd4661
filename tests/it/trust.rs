//! Trust a stranger can check: the signing key on disk, signed checkpoints, signed proofs (DSSE
//! envelopes) checked by `omk verify-proof` and by securesystemslib, a rewritten history caught,
//! checkpoints from before trees upgraded, and trust on first use when a copy is adopted.
// Tests drive real processes: the binary, and Python for the independent check.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{at, copy_tree, event, log_in, read_all};
use omk::log::adopt::{adopt, AdoptError, Adopted};
use omk::log::checkpoint::read_checkpoint;
use omk::log::proof::tree_head;
use omk::log::writer::Expected;
use omk::log::{verify_log, LogPaths, LogWriter, NewEvent, VerifyOptions};
use omk::trust::SigningKey;
use serde_json::Value;

/// A home of its own: the key lives under its config directory.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn key_file(&self) -> PathBuf {
        self.path().join("config/omk/signing-key.pem")
    }

    /// Runs omk in `cwd` with this home; returns (exit code, stdout, stderr).
    fn omk(&self, cwd: &Path, args: &[&str]) -> (i32, String, String) {
        self.omk_with_key(cwd, args, None)
    }

    /// Runs omk as [`Home::omk`] does, with `OMK_SIGNING_KEY` set to `key` when given.
    fn omk_with_key(&self, cwd: &Path, args: &[&str], key: Option<&Path>) -> (i32, String, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_omk"));
        command
            .args(args)
            .current_dir(cwd)
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env_remove("OMK_SIGNING_KEY")
            .env_remove("OMK_HOME");
        if let Some(key) = key {
            command.env("OMK_SIGNING_KEY", key);
        }
        let out = command.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }
}

/// Returns the PEM block of the public key in `omk key` output.
fn public_pem(stdout: &str) -> String {
    let start = stdout.find("-----BEGIN PUBLIC KEY-----").unwrap();
    let end = stdout.find("-----END PUBLIC KEY-----").unwrap() + "-----END PUBLIC KEY-----\n".len();
    stdout[start..end].to_owned()
}

/// Runs the demo in `home`; returns the repository and the goal's directory.
fn demo(home: &Home) -> (PathBuf, PathBuf) {
    let (code, stdout, stderr) = home.omk(
        home.path(),
        &["demo", "--dir", home.path().join("demo").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let root = fs::read_dir(home.path().join("demo"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let repo = root.join("repo");
    let goals = repo.join(".omk/goals");
    let goal = fs::read_dir(&goals)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (repo, goal)
}

/// Flips the lowest bit of the character at `at` of a base64 or hex text.
fn flipped(text: &str, at: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] ^= 0x01;
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_signed_proof_verifies_with_the_public_key_until_the_log_is_rewritten() {
    let home = Home::new();
    let (code, stdout, stderr) = home.omk(home.path(), &["key", "generate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("-----BEGIN PUBLIC KEY-----"),
        "only the key on stdout: {stdout}"
    );
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home.key_file()), 0o600);
    assert_eq!(mode(home.key_file().parent().unwrap()), 0o700);
    let public = public_pem(&stdout);
    let key_id = stderr
        .lines()
        .find_map(|line| line.strip_prefix("key id: "))
        .unwrap()
        .to_owned();
    let public_file = home.path().join("public.pem");
    fs::write(&public_file, &public).unwrap();
    let (code, _, stderr) = home.omk(home.path(), &["key", "generate"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );

    // The demo's checkpoints are signed with the key; the log verifies with its signature.
    let (repo, goal) = demo(&home);
    let checkpoint = read_checkpoint(&LogPaths::resolve(&goal)).unwrap().unwrap();
    let signed = checkpoint.signed.clone().expect("a signed head");
    assert_eq!(signed.key_id, key_id);
    let (code, stdout, stderr) = home.omk(&repo, &["log", "verify", goal.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = home.omk(
        &repo,
        &[
            "log",
            "verify",
            goal.to_str().unwrap(),
            "--key",
            public_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    independent_checkpoint_check(&goal, &public_file);

    // A signed proof: a DSSE envelope around the in-toto statement, naming the tree head.
    let (code, envelope_text, stderr) =
        home.omk(&repo, &["goal", "proof", "--format", "in-toto", "--sign"]);
    assert_eq!(code, 0, "{stderr}");
    let envelope: Value = serde_json::from_str(&envelope_text).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    assert_eq!(envelope["signatures"][0]["keyid"], key_id.as_str());
    let statement: Value = serde_json::from_slice(
        &STANDARD
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let tree = &statement["predicate"]["tree"];
    assert_eq!(tree["size"], checkpoint.seq + 1);
    assert_eq!(
        tree["root"],
        checkpoint.tree.as_ref().unwrap().root.to_hex()
    );
    let envelope_file = home.path().join("proof.dsse.json");
    fs::write(&envelope_file, &envelope_text).unwrap();
    let verify = |envelope: &Path, key: &Path| {
        home.omk(
            &repo,
            &[
                "verify-proof",
                envelope.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        )
    };
    let (code, stdout, stderr) = verify(&envelope_file, &public_file);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("ready") && stdout.contains("has that root"),
        "{stdout}"
    );
    independent_dsse_check(&envelope_file, &public_file, &tree["root"]);

    // A flipped bit in the payload, the signature or the key id is refused.
    let signature = envelope["signatures"][0]["sig"].as_str().unwrap();
    let payload = envelope["payload"].as_str().unwrap();
    for (field, at) in [("payload", 40), ("sig", 10), ("keyid", 5)] {
        let mut bad = envelope.clone();
        match field {
            "payload" => bad["payload"] = flipped(payload, at).into(),
            "sig" => bad["signatures"][0]["sig"] = flipped(signature, at).into(),
            _ => bad["signatures"][0]["keyid"] = flipped(&key_id, at).into(),
        }
        let bad_file = home.path().join(format!("bad-{field}.json"));
        fs::write(&bad_file, bad.to_string()).unwrap();
        let (code, _, stderr) = verify(&bad_file, &public_file);
        assert_eq!(code, 1, "{field}: {stderr}");
        assert!(stderr.contains("not verified"), "{stderr}");
    }
    // Another key does not vouch for it.
    let other = SigningKey::from_seed([5; 32]).public().to_pem();
    let other_file = home.path().join("other.pem");
    fs::write(&other_file, other).unwrap();
    let (code, _, stderr) = verify(&envelope_file, &other_file);
    assert_eq!(code, 1);
    assert!(stderr.contains("no signature is by key"), "{stderr}");
    let (code, _, stderr) = home.omk(
        &repo,
        &[
            "log",
            "verify",
            goal.to_str().unwrap(),
            "--key",
            other_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("not signed by the key you trust"),
        "{stderr}"
    );

    // The history rewritten and re-hashed, with a fresh checkpoint: the chain verifies, but the
    // signed statement no longer matches the log, and the old signature not the new tree.
    let paths = LogPaths::resolve(&goal);
    let rewritten = rehashed_with_another_prompt(&paths);
    fs::copy(rewritten.log(), paths.log()).unwrap();
    fs::copy(rewritten.checkpoint(), paths.checkpoint()).unwrap();
    // The projections name the old heads: a careful forger removes them.
    fs::remove_file(goal.join("snapshot.json")).unwrap();
    let (code, stdout, stderr) = home.omk(&repo, &["log", "verify", goal.to_str().unwrap()]);
    assert_eq!(
        code, 0,
        "a rewrite with a fresh checkpoint passes the chain alone: {stdout}{stderr}"
    );
    let (code, _, stderr) = verify(&envelope_file, &public_file);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not have that root"), "{stderr}");
    let mut forged: Value = serde_json::from_slice(&fs::read(paths.checkpoint()).unwrap()).unwrap();
    forged["signed"] = serde_json::to_value(&signed).unwrap();
    fs::write(paths.checkpoint(), forged.to_string()).unwrap();
    let (code, _, stderr) = home.omk(&repo, &["log", "verify", goal.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("signature"), "{stderr}");
}

/// Returns why Python cannot run the independent checks, or `None` when it can.
fn python_lacks(modules: &str) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output();
    (!probe.is_ok_and(|out| out.status.success())).then(|| {
        format!(
            "python3 with {modules} is not installed (pip install {})",
            modules.replace(',', "")
        )
    })
}

/// Runs `fixtures/verifiers/<script> args…`; returns its exit code and output.
fn python_verifier(script: &str, args: &[&Path]) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/verifiers")
        .join(script);
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Checks the signed checkpoint and an inclusion proof with `omk_tree.py`, a verifier written
/// from docs/log-format.md alone, when Python has what it needs.
fn independent_checkpoint_check(goal: &Path, public: &Path) {
    if let Some(reason) = python_lacks("blake3, cryptography") {
        println!("skipped the omk_tree.py checks: {reason}");
        return;
    }
    let (code, output) = python_verifier(
        "omk_tree.py",
        &[Path::new("checkpoint"), goal, Path::new("--key"), public],
    );
    assert_eq!(code, 0, "{output}");
    let proof = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(["log", "prove", goal.to_str().unwrap(), "--seq", "7"])
        .output()
        .unwrap();
    assert!(proof.status.success());
    let proof_file = goal.parent().unwrap().join("inclusion.json");
    fs::write(&proof_file, proof.stdout).unwrap();
    let (code, output) = python_verifier("omk_tree.py", &[Path::new("inclusion"), &proof_file]);
    assert_eq!(code, 0, "{output}");
}

/// Checks the envelope with securesystemslib, when Python has it; says why when it does not.
fn independent_dsse_check(envelope: &Path, public: &Path, root: &Value) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/verifiers/dsse_securesystemslib.py");
    let probe = Command::new("python3")
        .args(["-c", "import securesystemslib, cryptography"])
        .output();
    if !probe.is_ok_and(|out| out.status.success()) {
        println!("skipped the securesystemslib check: python3 with securesystemslib and cryptography is not installed (pip install securesystemslib cryptography)");
        return;
    }
    let out = Command::new("python3")
        .arg(script)
        .arg(envelope)
        .arg(public)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(root.as_str().unwrap()), "{stdout}");
}

/// Returns a copy of the log with its prompt changed, every line re-hashed and a checkpoint
/// written to match: what someone who can write the goal directory could make.
fn rehashed_with_another_prompt(paths: &LogPaths) -> LogPaths {
    let dir = tempfile::tempdir().unwrap().keep();
    let copy = log_in(&dir);
    let mut writer = LogWriter::open(&copy).unwrap();
    for (index, raw) in read_all(paths).iter().enumerate() {
        let mut data: Value = serde_json::from_str(raw.data().get()).unwrap();
        if raw.kind() == "run_started" {
            data["prompt"] = "something else entirely".into();
        }
        writer
            .append(
                Expected::Seq(index as u64),
                raw.ts(),
                &[event(raw.id(), raw.kind(), data)],
            )
            .unwrap();
    }
    copy
}

#[test]
fn a_key_others_can_read_is_refused_with_the_fix() {
    let home = Home::new();
    assert_eq!(home.omk(home.path(), &["key", "generate"]).0, 0);
    fs::set_permissions(home.key_file(), fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, stderr) = home.omk(home.path(), &["goal", "list"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("can be read by others") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    fs::write(home.key_file(), "not a key").unwrap();
    fs::set_permissions(home.key_file(), fs::Permissions::from_mode(0o600)).unwrap();
    let (code, _, stderr) = home.omk(home.path(), &["key", "show"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not usable"), "{stderr}");
    // A key the user names must be there: heads must not go unsigned quietly.
    let named = home.path().join("elsewhere.pem");
    let (code, _, stderr) = home.omk_with_key(home.path(), &["goal", "list"], Some(&named));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("does not exist") && stderr.contains("omk key generate"),
        "{stderr}"
    );
    let (code, _, stderr) = home.omk_with_key(home.path(), &["key", "generate"], Some(&named));
    assert_eq!(code, 0);
    assert!(stderr.contains("elsewhere.pem"), "{stderr}");
    assert!(named.exists());
}

#[test]
fn a_checkpoint_from_before_trees_is_upgraded_by_the_next_append() {
    let goals = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compat/0.1.0/demo/goals");
    let frozen = fs::read_dir(goals).unwrap().next().unwrap().unwrap().path();
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&frozen, dir.path());
    let paths = LogPaths::resolve(dir.path());
    assert_eq!(read_checkpoint(&paths).unwrap().unwrap().v, 1);
    let mut writer = LogWriter::open(&paths).unwrap();
    let next = writer.position().next_seq;
    writer
        .append(
            Expected::Seq(next),
            at(99),
            &[event(
                "e-upgrade",
                "note_added",
                serde_json::json!({"note": "x"}),
            )],
        )
        .unwrap();
    let checkpoint = read_checkpoint(&paths).unwrap().unwrap();
    assert_eq!(checkpoint.v, 2);
    assert_eq!(
        checkpoint.tree_head(),
        Some(tree_head(&paths, None).unwrap())
    );
    let report = verify_log(&paths, VerifyOptions::all_cores()).unwrap();
    assert!(report.first_error().is_none(), "{:?}", report.findings);
}

/// Appends one batch to the log at `paths`, signed by `key` when given.
fn append(paths: &LogPaths, key: Option<&Arc<SigningKey>>, id: &str) {
    let mut writer = LogWriter::open(paths).unwrap();
    if let Some(key) = key {
        writer.sign_heads_with(Arc::clone(key));
    }
    let batch: Vec<NewEvent> = vec![event(id, "note_added", serde_json::json!({"id": id}))];
    let next = writer.position().next_seq;
    writer
        .append(Expected::Seq(next), at(next as i64), &batch)
        .unwrap();
}

#[test]
fn a_fetched_copy_must_keep_the_key_and_extend_the_signed_head() {
    let owner = Arc::new(SigningKey::from_seed([1; 32]));
    let stranger = Arc::new(SigningKey::from_seed([2; 32]));
    let origin_dir = tempfile::tempdir().unwrap();
    let origin = log_in(origin_dir.path());
    append(&origin, Some(&owner), "e-1");
    append(&origin, Some(&owner), "e-2");
    let here_dir = tempfile::tempdir().unwrap();
    let here = log_in(here_dir.path());
    assert!(matches!(
        adopt(&here, &origin).unwrap(),
        Adopted::New { .. }
    ));
    let held = read_checkpoint(&here).unwrap().unwrap();
    assert_eq!(
        held.signed.as_ref().unwrap().key_id,
        owner.public().key_id()
    );

    // The owner goes on: adopted, and the new signed head comes along.
    append(&origin, Some(&owner), "e-3");
    assert!(matches!(
        adopt(&here, &origin).unwrap(),
        Adopted::Extended { .. }
    ));
    assert_eq!(
        read_checkpoint(&here)
            .unwrap()
            .unwrap()
            .tree_head()
            .unwrap()
            .size,
        3
    );

    // Someone else's key, or no signature at all, on a copy that extends it: refused.
    for (signer, expected) in [(Some(&stranger), "signed by key"), (None, "not signed")] {
        let copy_dir = tempfile::tempdir().unwrap();
        copy_tree(origin_dir.path(), copy_dir.path());
        let copy = log_in(copy_dir.path());
        append(&copy, signer, "e-4");
        let before = fs::read(here.log()).unwrap();
        match adopt(&here, &copy) {
            Err(error @ AdoptError::Untrusted { .. }) => {
                assert!(error.to_string().contains(expected), "{error}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fs::read(here.log()).unwrap(),
            before,
            "nothing changed here"
        );
    }
}
