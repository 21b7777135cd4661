//! What living with omk day to day needs, end to end on the real binary: shell completions,
//! the manual, colour only where it belongs, traces on stderr, and `omk doctor`.
// Tests drive real processes: the binary, git, and the shells that load the completions.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn omk(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omk"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("OMK_HOME")
        .env_remove("OMK_LOG")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("XDG_CONFIG_HOME", dir.join(".no-config"))
        .env_remove("OMK_SIGNING_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs the demo (a whole goal, ready and landed) with `-v`; returns its repository and stderr.
fn demo(parent: &Path) -> (PathBuf, String) {
    let (code, stdout, stderr) = omk(
        parent,
        &["-v", "demo", "--dir", parent.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("cd "))
        .expect("the demo names its repository");
    (PathBuf::from(line), stderr)
}

#[test]
fn completions_load_in_their_shells_and_name_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, script, stderr) = omk(dir.path(), &["completions", shell], &[]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        for word in ["goal", "replay", "verify-proof", "doctor", "color"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        let file = dir.path().join(format!("omk.{shell}"));
        fs::write(&file, &script).unwrap();
        // Where the shell is installed, the script must load without an error.
        let check = match shell {
            "bash" => Some(("bash", vec!["-n".to_owned(), file.display().to_string()])),
            "zsh" => Some(("zsh", vec!["-n".to_owned(), file.display().to_string()])),
            "fish" => Some((
                "fish",
                vec!["--no-execute".to_owned(), file.display().to_string()],
            )),
            _ => None,
        };
        if let Some((program, args)) = check {
            match Command::new(program).args(&args).output() {
                Ok(out) => assert!(
                    out.status.success(),
                    "{program} refuses the script: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(_) => {
                    eprintln!("skipping the {program} syntax check: {program} is not installed")
                }
            }
        }
    }
    // In bash, completing `omk go` offers `goal`.
    let script = dir.path().join("omk.bash");
    let probe = format!(
        "source {}; COMP_WORDS=(omk go); COMP_CWORD=1; COMP_LINE='omk go'; COMP_POINT=6; _omk omk go omk; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "goal");
    let (code, _, stderr) = omk(dir.path(), &["completions", "tcsh"], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid value 'tcsh'"), "{stderr}");
}

#[test]
fn the_manual_is_one_page_or_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, page, _) = omk(dir.path(), &["man"], &[]);
    assert_eq!(code, 0);
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    assert!(page.contains(".TH omk 1"), "{page}");
    assert!(
        page.contains("omk\\-goal(1)"),
        "the page lists the commands: {page}"
    );
    let out_dir = dir.path().join("man1");
    let (code, stdout, stderr) = omk(
        dir.path(),
        &["man", "--out-dir", out_dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("wrote the manual pages into "),
        "{stdout}"
    );
    for page in [
        "omk.1",
        "omk-goal.1",
        "omk-goal-run.1",
        "omk-goal-list.1",
        "omk-replay.1",
    ] {
        let text = fs::read_to_string(out_dir.join(page)).unwrap();
        assert!(text.contains(".SH SYNOPSIS"), "{page}");
    }
    let list = fs::read_to_string(out_dir.join("omk-goal-list.1")).unwrap();
    assert!(list.contains("\\-\\-status"), "{list}");
    let blocked = dir.path().join("a-file");
    fs::write(&blocked, "").unwrap();
    let (code, _, stderr) = omk(
        dir.path(),
        &["man", "--out-dir", blocked.join("man1").to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("omk: cannot write the manual pages into "),
        "{stderr}"
    );
}

#[test]
fn colour_paints_statuses_on_request_and_never_json_pipes_or_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, trace) = demo(dir.path());
    // -v traced the demo's processes, git among them, with how each ended and how long it took.
    assert!(trace.contains("started git "), "{trace}");
    assert!(
        trace
            .lines()
            .any(|line| line.contains("ended git") && line.contains("elapsed_ms=")),
        "{trace}"
    );
    assert!(trace.contains("command=\"demo\""), "{trace}");
    let green = "\x1b[32mready\x1b[0m";
    let status = |args: &[&str], env: &[(&str, &str)]| {
        let mut full = vec!["goal", "status"];
        full.extend_from_slice(args);
        let (code, stdout, stderr) = omk(&repo, &full, env);
        assert_eq!(code, 0, "{stderr}");
        stdout
    };
    assert!(status(&["--color", "always"], &[]).contains(green));
    // Standard output here is a pipe: auto does not paint, CLICOLOR_FORCE does, NO_COLOR wins.
    assert!(!status(&[], &[]).contains('\x1b'));
    assert!(status(&[], &[("CLICOLOR_FORCE", "1")]).contains(green));
    assert!(!status(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
    assert!(!status(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]).contains('\x1b'));
    let json = status(&["--format", "json", "--color", "always"], &[]);
    assert!(!json.contains('\x1b'));
    serde_json::from_str::<Value>(&json).unwrap();
    let (_, list, _) = omk(&repo, &["goal", "list", "--all", "--color", "always"], &[]);
    let row = list.lines().nth(1).unwrap();
    assert!(row.contains(&format!("{green} (landed)")), "{list}");
    // A proof is a document, often redirected to a file: CLICOLOR_FORCE alone does not paint it.
    let (_, proof, _) = omk(&repo, &["goal", "proof"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!proof.contains('\x1b'), "{proof}");
    let (_, proof, _) = omk(&repo, &["goal", "proof", "--color", "always"], &[]);
    assert!(
        proof
            .lines()
            .next()
            .unwrap()
            .ends_with(": \x1b[32mREADY\x1b[0m"),
        "{proof}"
    );
    let (code, _, stderr) = omk(&repo, &["goal", "status", "--color", "sometimes"], &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("invalid value 'sometimes' for '--color <WHEN>'"),
        "{stderr}"
    );
}

#[test]
fn traces_go_to_stderr_only_when_asked_and_a_bad_filter_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = demo(dir.path());
    let (code, quiet, silent) = omk(&repo, &["goal", "status", "--format", "json"], &[]);
    assert_eq!(code, 0);
    assert_eq!(silent, "", "no trace unless asked");
    let (code, stdout, trace) = omk(&repo, &["-vv", "goal", "status", "--format", "json"], &[]);
    assert_eq!(code, 0);
    assert_eq!(stdout, quiet, "traces never reach standard output");
    assert!(trace.contains("omk{command=\"goal status\"}"), "{trace}");
    assert!(trace.contains("folded through seq"), "{trace}");
    assert!(
        trace.contains("close time.busy="),
        "the command's span closes with its duration: {trace}"
    );
    let (_, _, info_only) = omk(&repo, &["-v", "goal", "status"], &[]);
    assert!(
        !info_only.contains("folded through"),
        "folds are -vv: {info_only}"
    );
    let (_, _, filtered) = omk(&repo, &["goal", "status"], &[("OMK_LOG", "debug")]);
    assert!(filtered.contains("folded through seq"), "{filtered}");
    let (code, stdout, stderr) = omk(&repo, &["goal", "status"], &[("OMK_LOG", "omk=[[")]);
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("omk: OMK_LOG=omk=[[ is not a filter: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn doctor_names_what_is_there_and_what_to_fix() {
    // Outside a repository goals cannot start: that is a problem to fix, named as such.
    let outside = tempfile::tempdir().unwrap();
    let (code, text, _) = omk(outside.path(), &["doctor"], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("PROBLEM  repository"), "{text}");
    let dir = crate::common::git_repo(&[("README.md", "# here\n")]);
    let root = dir.path();
    let (code, text, stderr) = omk(root, &["doctor"], &[]);
    assert_eq!(code, 0, "{text}{stderr}");
    let git = text.lines().find(|line| line.contains(" git ")).unwrap();
    assert!(
        git.starts_with("ok ") && git.contains("git version 2."),
        "{text}"
    );
    assert!(text.contains("agent claude"), "{text}");
    assert!(text.contains("signing key"), "{text}");
    assert!(text.contains("state directory"), "{text}");
    assert!(text.ends_with("omk can run goals here.\n"), "{text}");
    let (code, json, _) = omk(root, &["doctor", "--format", "json"], &[]);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        crate::common::schema_errors("doctor.schema.json", &report),
        None
    );
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[..2], ["git", "repository"]);
    assert_eq!(names.last(), Some(&"state directory"));
    // Without git, and with a key others can read, both are problems to fix: exit 1.
    let key = root.join("exposed.pem");
    let (code, _, stderr) = omk(
        root,
        &["key", "generate"],
        &[("OMK_SIGNING_KEY", key.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{stderr}");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, text, _) = omk(
        root,
        &["doctor"],
        &[
            ("PATH", "/nonexistent"),
            ("OMK_SIGNING_KEY", key.to_str().unwrap()),
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("PROBLEM  git              not installed (no `git` on PATH)"),
        "{text}"
    );
    assert!(
        text.contains("PROBLEM  signing key      the signing key"),
        "{text}"
    );
    assert!(
        text.ends_with("2 problems to fix before omk can work as it should.\n"),
        "{text}"
    );
}

#[test]
fn on_a_terminal_the_list_is_coloured_and_fits_its_width() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = demo(dir.path());
    // `script` gives the command a real pseudo-terminal, 60 columns wide.
    let inner = format!(
        "stty cols 60; {} goal list --all",
        env!("CARGO_BIN_EXE_omk")
    );
    let out = match Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .current_dir(&repo)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm")
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            eprintln!("skipping: `script` (util-linux) is not installed to give omk a terminal");
            return;
        }
    };
    let screen = String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n");
    let row = screen.lines().nth(1).unwrap_or_default();
    assert!(row.contains("\x1b[32mready\x1b[0m (landed)"), "{screen:?}");
    let visible = row.replace("\x1b[32m", "").replace("\x1b[0m", "");
    assert_eq!(visible.chars().count(), 60, "{visible:?}");
    assert!(visible.ends_with('…'), "{visible:?}");
}
