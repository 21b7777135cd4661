//! `omk goal land` end to end (issue 13): a goal run by the scripted agent in a real git
//! repository, with real gates from `omk.toml`, accepted, then landed on the user's branch:
//! by squash, merge and fast-forward; after the branch moved (the gates run again on the
//! combined tree), moved in a conflicting way, or moved so that a gate fails (nothing lands);
//! on a branch no checkout holds; refused on a dirty checkout; and pushed when asked. Then
//! `omk goal open-pr` through a scripted `gh` on PATH, and without one.
// Tests drive real processes: git and the binary.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const PROMPT: &str = "Add a --json flag to list. Fix the parser crash on empty input";

/// `json` also fails once a file named BROKEN exists: a change on the branch that breaks the
/// combination without touching what the goal touched.
const GATES: &str = "[gates.json]\ncommand = \"grep -q json src/list.rs && test ! -e BROKEN\"\n\n[gates.parser]\ncommand = \"grep -q usize src/parser.rs\"\n";

const AGENT: &str = "slice-1 write src/list.rs pub fn list() -> &'static str { \"json\" }\n\
slice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n";

struct Repo {
    dir: tempfile::TempDir,
    goal: String,
    base: String,
}

impl Repo {
    /// A repository with an accepted, ready goal, its branch `main` where the goal started.
    fn with_ready_goal() -> Repo {
        let dir = common::git_repo(&[
            ("src/list.rs", "pub fn list() {}\n"),
            ("src/parser.rs", "pub fn parse() {}\n"),
            ("README.md", "a small crate\n"),
            ("omk.toml", GATES),
        ]);
        fs::write(dir.path().join(".git/agent-plan"), AGENT).unwrap();
        let mut repo = Repo {
            dir,
            goal: String::new(),
            base: String::new(),
        };
        repo.base = repo.git(&["rev-parse", "HEAD"]);
        let agent = common::agent_cmd();
        let (code, _, stderr) = repo.omk(&[
            "goal",
            "run",
            PROMPT,
            "--agent-cmd",
            &agent,
            "--until-ready",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let (code, _, stderr) = repo.omk(&["goal", "accept", "latest", "--summary", "looks right"]);
        assert_eq!(code, 0, "{stderr}");
        repo.goal = repo.show()["state"]["goal_id"].as_str().unwrap().to_owned();
        repo
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn omk(&self, args: &[&str]) -> (i32, String, String) {
        self.omk_with_path(args, &std::env::var("PATH").unwrap_or_default())
    }

    /// Runs omk with `PATH` set to `path`.
    fn omk_with_path(&self, args: &[&str], path: &str) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_omk"))
            .args(args)
            .env("PATH", path)
            .current_dir(self.root())
            .env_remove("OMK_HOME")
            .env_remove("OMK_TEST_NOW")
            .env("SCRIPTED_AGENT_PLAN", self.root().join(".git/agent-plan"))
            .env(
                "SCRIPTED_AGENT_STATE",
                self.root().join(".git/scripted-agent-state"),
            )
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn git(&self, args: &[&str]) -> String {
        common::git(self.root(), args)
    }

    /// Commits `text` into `path` on the checked-out branch, as the user would.
    fn commit(&self, path: &str, text: &str) {
        fs::write(self.root().join(path), text).unwrap();
        self.git(&["add", path]);
        self.git(&["commit", "-qm", &format!("the user changes {path}")]);
    }

    fn show(&self) -> Value {
        let (code, stdout, stderr) = self.omk(&["goal", "show", "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    }

    /// Returns the claimed commit and tree.
    fn claimed(&self) -> (String, String) {
        let result = &self.show()["state"]["result"];
        (
            result["commit"].as_str().unwrap().to_owned(),
            result["tree"].as_str().unwrap().to_owned(),
        )
    }

    fn events(&self, kind: &str) -> Vec<Value> {
        let log = fs::read_to_string(
            self.root()
                .join(".omk/goals")
                .join(&self.goal)
                .join("events.jsonl"),
        )
        .unwrap();
        log.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|event| event["kind"] == kind)
            .map(|event| event["data"].clone())
            .collect()
    }

    fn proof_is_ready(&self) -> bool {
        self.omk(&["goal", "proof", "--format", "json"]).0 == 0
    }
}

#[test]
fn a_goal_lands_by_squash_on_the_branch_it_started_from_with_a_message_naming_it() {
    let repo = Repo::with_ready_goal();
    let (claimed_commit, claimed_tree) = repo.claimed();
    let (code, stdout, stderr) = repo.omk(&["goal", "land"]);
    assert_eq!(code, 0, "{stderr}");
    let tip = repo.git(&["rev-parse", "main"]);
    assert!(
        stdout.starts_with(&format!(
            "landed goal {} on main at {} (squash onto {})\n",
            repo.goal,
            &tip[..12],
            &repo.base[..12]
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("nothing was pushed: `git push origin main` when you are ready"),
        "{stdout}"
    );
    assert_eq!(repo.git(&["rev-parse", "main^{tree}"]), claimed_tree);
    assert_eq!(repo.git(&["rev-parse", "main^"]), repo.base);
    assert_ne!(tip, claimed_commit, "a squash is a new commit");
    let message = repo.git(&["log", "-1", "--format=%B", "main"]);
    assert!(message.starts_with(PROMPT), "{message}");
    assert!(
        message.contains(&format!("Omk-Goal: {}", repo.goal)),
        "{message}"
    );
    assert!(message.contains("Omk-Verdict: ready"), "{message}");
    assert!(message.contains("Omk-Log-Head: "), "{message}");
    // The user's checkout moved with its branch and has nothing left over.
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert!(fs::read_to_string(repo.root().join("src/list.rs"))
        .unwrap()
        .contains("json"));
    let landed = repo.events("goal_landed");
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0]["into"], "main");
    assert_eq!(landed[0]["method"], "squash");
    assert_eq!(landed[0]["onto"], repo.base.as_str());
    assert_eq!(landed[0]["commit"], tip.as_str());
    assert_eq!(landed[0]["reverified"], false);
    assert!(repo.proof_is_ready());
    let (_, status, _) = repo.omk(&["goal", "status"]);
    assert!(
        status.contains(&format!(
            "next: nothing: the goal landed on main at {}",
            &tip[..12]
        )),
        "{status}"
    );
    // Once only.
    let (code, _, stderr) = repo.omk(&["goal", "land"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "omk: refused: goal {} already landed on main at {}\n",
            repo.goal,
            &tip[..12]
        )
    );
    assert_eq!(repo.events("goal_landed").len(), 1);
    assert_eq!(repo.omk(&["replay", "--verify"]).0, 0);
}

#[test]
fn fast_forward_moves_the_branch_to_the_claimed_commit_and_merge_makes_a_merge_commit() {
    let repo = Repo::with_ready_goal();
    let (claimed_commit, _) = repo.claimed();
    let (code, _, stderr) = repo.omk(&["goal", "land", "--ff-only"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(repo.git(&["rev-parse", "main"]), claimed_commit);
    assert_eq!(repo.events("goal_landed")[0]["method"], "fast_forward");

    let repo = Repo::with_ready_goal();
    let (claimed_commit, claimed_tree) = repo.claimed();
    let (code, _, stderr) = repo.omk(&["goal", "land", "--merge"]);
    assert_eq!(code, 0, "{stderr}");
    let parents = repo.git(&["log", "-1", "--format=%P", "main"]);
    assert_eq!(parents, format!("{} {claimed_commit}", repo.base));
    assert_eq!(repo.git(&["rev-parse", "main^{tree}"]), claimed_tree);
}

#[test]
fn after_the_branch_moved_the_required_gates_run_on_the_combined_tree_before_it_lands() {
    let repo = Repo::with_ready_goal();
    let (_, claimed_tree) = repo.claimed();
    repo.commit("README.md", "a small crate, documented\n");
    let moved = repo.git(&["rev-parse", "main"]);
    let (code, _, stderr) = repo.omk(&["goal", "land", "--ff-only"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("`main` moved since the goal's base"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: land with --squash or --merge"),
        "{stderr}"
    );
    assert_eq!(repo.git(&["rev-parse", "main"]), moved, "nothing landed");

    let (code, stdout, stderr) = repo.omk(&["goal", "land"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("main had moved since the goal's base, so the required gates ran again on the landed tree: json passed, parser passed")
            || stdout.contains("main had moved since the goal's base, so the required gates ran again on the landed tree: parser passed, json passed"),
        "{stdout}"
    );
    let tree = repo.git(&["rev-parse", "main^{tree}"]);
    assert_ne!(tree, claimed_tree);
    assert_eq!(repo.git(&["rev-parse", "main^"]), moved);
    assert_eq!(
        fs::read_to_string(repo.root().join("README.md")).unwrap(),
        "a small crate, documented\n"
    );
    assert!(fs::read_to_string(repo.root().join("src/parser.rs"))
        .unwrap()
        .contains("usize"));
    let landing_runs: Vec<Value> = repo
        .events("gate_finished")
        .into_iter()
        .filter(|run| run["target"]["landing"] == true)
        .collect();
    assert_eq!(landing_runs.len(), 2);
    assert!(landing_runs
        .iter()
        .all(|run| run["target"]["tree"] == tree.as_str() && run["exit_code"] == 0));
    assert!(
        landing_runs.iter().all(|run| run["v"] == 2),
        "gate events are payload version 2"
    );
    let landed = &repo.events("goal_landed")[0];
    assert_eq!(
        (landed["reverified"].clone(), landed["onto"].clone()),
        (Value::Bool(true), Value::from(moved))
    );
    // The landing runs are evidence for the landed commit, not a new claim: the proof stands.
    assert!(repo.proof_is_ready());
    assert_eq!(repo.omk(&["replay", "--verify"]).0, 0);
}

#[test]
fn a_branch_that_moved_in_a_conflicting_way_stops_the_landing_and_nothing_lands() {
    let repo = Repo::with_ready_goal();
    repo.commit("src/list.rs", "pub fn list() -> u8 { 1 }\n");
    let moved = repo.git(&["rev-parse", "main"]);
    let (code, stdout, stderr) = repo.omk(&["goal", "land"]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!(
            "omk: goal {} did not land: main moved since the goal's base (now {}) and the result conflicts with it in src/list.rs",
            repo.goal,
            &moved[..12]
        )
    );
    assert!(stderr.contains("hint: nothing landed"), "{stderr}");
    assert_eq!(repo.git(&["rev-parse", "main"]), moved);
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert!(repo.events("goal_landed").is_empty());
}

#[test]
fn gates_that_fail_on_the_combined_tree_stop_the_landing_and_are_recorded() {
    let repo = Repo::with_ready_goal();
    repo.commit("BROKEN", "the branch now breaks the json gate\n");
    let moved = repo.git(&["rev-parse", "main"]);
    let (code, _, stderr) = repo.omk(&["goal", "land"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("did not land: main moved since the goal's base, and on the result combined with it the required gates json did not pass"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: nothing landed; see what failed with `omk goal output json`"),
        "{stderr}"
    );
    assert_eq!(repo.git(&["rev-parse", "main"]), moved);
    assert!(repo.events("goal_landed").is_empty());
    let failed: Vec<Value> = repo
        .events("gate_finished")
        .into_iter()
        .filter(|run| run["target"]["landing"] == true && run["exit_code"] != 0)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["gate"], "json");
    // The claimed tree's evidence is untouched: the goal is still ready, and can land later.
    assert!(repo.proof_is_ready());
    let (_, status, _) = repo.omk(&["goal", "status"]);
    assert!(status.contains("next: omk goal land"), "{status}");
}

#[test]
fn a_dirty_checkout_or_an_unknown_branch_is_refused_and_nothing_changes() {
    let repo = Repo::with_ready_goal();
    let (code, _, stderr) = repo.omk(&["goal", "land", "--into", "nowhere"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "omk: there is no branch `nowhere` in this repository\nhint: create it (`git branch <name>`), or pass --into an existing branch\n"
    );
    fs::write(repo.root().join("README.md"), "work in progress\n").unwrap();
    let (code, _, stderr) = repo.omk(&["goal", "land"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        format!(
            "omk: {} has uncommitted changes to tracked files (README.md): omk never touches uncommitted work\nhint: commit or stash your changes, then land again\n",
            repo.root().display()
        )
    );
    assert_eq!(
        fs::read_to_string(repo.root().join("README.md")).unwrap(),
        "work in progress\n"
    );
    assert_eq!(repo.git(&["rev-parse", "main"]), repo.base);
    assert!(repo.events("goal_landed").is_empty());
}

#[test]
fn a_branch_no_checkout_holds_moves_by_its_ref_and_a_push_goes_where_asked() {
    let repo = Repo::with_ready_goal();
    let (_, claimed_tree) = repo.claimed();
    repo.git(&["branch", "release", &repo.base]);
    let remote = bare_remote(&repo, "shared");
    let (code, stdout, stderr) = repo.omk(&[
        "goal", "land", "--into", "release", "--notes", "--push", "shared",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("pushed release to shared"), "{stdout}");
    assert!(
        stdout.contains("the proof's summary is a note on it: git log --notes=omk -1 release"),
        "{stdout}"
    );
    let note = repo.git(&["notes", "--ref", "omk", "show", "release"]);
    assert!(
        note.contains("omk verdict: **READY**") && note.contains(&repo.goal),
        "{note}"
    );
    assert_eq!(
        remote_ref(remote.path(), "refs/notes/omk"),
        repo.git(&["rev-parse", "refs/notes/omk"]),
        "the note travels with the branch"
    );
    assert_eq!(repo.git(&["rev-parse", "release^{tree}"]), claimed_tree);
    assert_eq!(
        repo.git(&["rev-parse", "main"]),
        repo.base,
        "the checked-out branch stays"
    );
    let pushed = Command::new("git")
        .args(["rev-parse", "release"])
        .current_dir(remote.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(pushed.stdout).unwrap().trim(),
        repo.git(&["rev-parse", "release"])
    );
}

/// A bare remote named `origin` for the repository.
fn origin(repo: &Repo) -> tempfile::TempDir {
    bare_remote(repo, "origin")
}

/// A bare remote named `name` for the repository.
fn bare_remote(repo: &Repo, name: &str) -> tempfile::TempDir {
    let remote = tempfile::tempdir().unwrap();
    let status = Command::new("git")
        .args(["init", "-q", "--bare"])
        .current_dir(remote.path())
        .status()
        .unwrap();
    assert!(status.success());
    repo.git(&["remote", "add", name, &remote.path().display().to_string()]);
    remote
}

fn remote_ref(remote: &Path, name: &str) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", name])
        .current_dir(remote)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn open_pr_pushes_the_result_and_the_goal_then_opens_it_with_gh_and_records_it() {
    let repo = Repo::with_ready_goal();
    let remote = origin(&repo);
    // A scripted `gh`: signed in; `pr create` records its arguments and answers an address.
    let bin = tempfile::tempdir().unwrap();
    let recorded = bin.path().join("gh-args");
    let gh = bin.path().join("gh");
    fs::write(
        &gh,
        format!(
            "#!/bin/sh\ncase \"$1 $2\" in\n  'auth status') exit 0 ;;\n  'pr create') printf '%s\\n' \"$@\" > {}; echo https://forge.example/acme/crate/pull/7 ;;\n  *) exit 3 ;;\nesac\n",
            recorded.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .args(["+x", &gh.display().to_string()])
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let (code, stdout, stderr) = repo.omk_with_path(&["goal", "open-pr", "--draft"], &path);
    assert_eq!(code, 0, "{stderr}");
    let branch = format!("omk/{}/result", repo.goal);
    assert_eq!(
        stdout,
        format!("opened pull request https://forge.example/acme/crate/pull/7: {branch} into main; recorded in goal {}'s log\n", repo.goal)
    );
    let args = fs::read_to_string(&recorded).unwrap();
    let args: Vec<&str> = args.lines().collect();
    let body_file = repo
        .root()
        .join(".omk/goals")
        .join(&repo.goal)
        .join("pull-request.md");
    assert_eq!(
        args,
        [
            "pr",
            "create",
            "--base",
            "main",
            "--head",
            &branch,
            "--title",
            PROMPT,
            "--body-file",
            &body_file.display().to_string(),
            "--draft"
        ]
    );
    assert!(fs::read_to_string(&body_file)
        .unwrap()
        .contains("omk verdict: **READY**"));
    let (claimed, _) = repo.claimed();
    assert_eq!(
        remote_ref(remote.path(), &format!("refs/heads/{branch}")),
        claimed
    );
    assert!(!remote_ref(remote.path(), &format!("refs/omk/goals/{}", repo.goal)).is_empty());
    let opened = repo.events("pull_request_opened");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["url"], "https://forge.example/acme/crate/pull/7");
    assert_eq!(opened[0]["draft"], true);
    assert_eq!(opened[0]["commit"], claimed.as_str());
}

#[test]
fn without_gh_open_pr_pushes_the_branches_and_says_exactly_what_to_run() {
    let repo = Repo::with_ready_goal();
    let remote = origin(&repo);
    // A PATH with git and sh and nothing else, so no `gh` is found whatever the machine has.
    let bin = tempfile::tempdir().unwrap();
    for program in ["git", "sh"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .unwrap();
        let found = String::from_utf8(found.stdout).unwrap();
        std::os::unix::fs::symlink(found.trim(), bin.path().join(program)).unwrap();
    }
    let path = bin.path().display().to_string();
    let (code, stdout, stderr) = repo.omk_with_path(&["goal", "open-pr"], &path);
    assert_eq!(code, 1, "{stderr}");
    let branch = format!("omk/{}/result", repo.goal);
    let body_file = repo
        .root()
        .join(".omk/goals")
        .join(&repo.goal)
        .join("pull-request.md");
    assert_eq!(
        stdout,
        format!(
            "pushed {branch} and goal {} to origin; `gh` is not installed, so open the pull request yourself:\n  gh pr create --base main --head {branch} --title '{PROMPT}' --body-file {}\n",
            repo.goal,
            body_file.display()
        )
    );
    assert!(body_file.is_file());
    assert!(!remote_ref(remote.path(), &format!("refs/heads/{branch}")).is_empty());
    assert!(repo.events("pull_request_opened").is_empty());
}

fn goal_branches(repo: &Repo) -> String {
    repo.git(&[
        "for-each-ref",
        "--format=%(refname:short)",
        &format!("refs/heads/omk/{}/", repo.goal),
    ])
}

#[test]
fn gc_removes_only_ended_goals_scratch_and_says_what_it_freed() {
    let repo = Repo::with_ready_goal();
    let worktrees = repo.root().join(".omk/worktrees").join(&repo.goal);
    assert!(worktrees.is_dir());
    assert!(!goal_branches(&repo).is_empty());
    let (code, stdout, _) = repo.omk(&["goal", "gc", "--older-than", "0"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!(
            "{}: kept: it is ready but has not landed: `omk goal land` it first\nnothing to remove: no ended goal has worktrees or branches left\n",
            repo.goal
        )
    );
    assert!(worktrees.is_dir());

    assert_eq!(repo.omk(&["goal", "land"]).0, 0);
    let landed = repo.git(&["rev-parse", "main"]);
    let (_, stdout, _) = repo.omk(&["goal", "gc"]);
    assert!(
        stdout.starts_with(&format!("{}: kept: it changed ", repo.goal)),
        "{stdout}"
    );
    assert!(stdout.contains("ago, less than --older-than"), "{stdout}");
    let (code, stdout, _) = repo.omk(&["goal", "gc", "--older-than", "0", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(&format!("{}: would remove ", repo.goal)),
        "{stdout}"
    );
    assert!(
        stdout.contains("run it again without --dry-run"),
        "{stdout}"
    );
    assert!(worktrees.is_dir(), "a dry run removes nothing");

    let (code, stdout, stderr) = repo.omk(&["goal", "gc", "--older-than", "0"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!("{}: removed ", repo.goal)),
        "{stdout}"
    );
    assert!(stdout.contains(" branches, "), "{stdout}");
    assert!(stdout.contains("freed "), "{stdout}");
    assert!(!worktrees.exists());
    assert_eq!(goal_branches(&repo), "");
    assert_eq!(
        repo.git(&["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(
        repo.git(&["rev-parse", "main"]),
        landed,
        "the landed commit stays"
    );
    let pruned = repo.events("goal_pruned");
    assert_eq!(pruned.len(), 1);
    assert!(pruned[0]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(repo.omk(&["replay", "--verify"]).0, 0);
    let (_, stdout, _) = repo.omk(&["goal", "gc", "--older-than", "0"]);
    assert_eq!(
        stdout,
        "nothing to remove: no ended goal has worktrees or branches left\n"
    );
    let (code, _, stderr) = repo.omk(&["goal", "gc", "--older-than", "soon"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("omk: --older-than: `soon` is not a duration"),
        "{stderr}"
    );
}

#[test]
fn land_with_prune_removes_the_goals_worktrees_and_branches_at_once() {
    let repo = Repo::with_ready_goal();
    let (code, stdout, stderr) = repo.omk(&["goal", "land", "--prune"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("  pruned the goal's "), "{stdout}");
    assert!(!repo.root().join(".omk/worktrees").join(&repo.goal).exists());
    assert_eq!(goal_branches(&repo), "");
    assert_eq!(repo.events("goal_pruned").len(), 1);
}

/// Issue 13, done when: a goal goes from a prompt to the user's branch (`run --until-ready`,
/// `accept`, `land`), to a pull request body (`open-pr --dry-run`), and a second clone
/// verifies the same run after `fetch`.
#[test]
fn from_a_prompt_to_the_branch_a_pull_request_body_and_a_second_clone_that_verifies_it() {
    let repo = Repo::with_ready_goal();
    assert_eq!(repo.omk(&["goal", "land", "--notes"]).0, 0);
    let (code, body, _) = repo.omk(&["goal", "open-pr", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(body.starts_with(&format!("# {PROMPT}\n")), "{body}");
    let remote = origin(&repo);
    repo.git(&["push", "-q", "origin", "main"]);
    let (code, _, stderr) = repo.omk(&["goal", "push"]);
    assert_eq!(code, 0, "{stderr}");

    let elsewhere = tempfile::tempdir().unwrap();
    let status = Command::new("git")
        .args(["clone", "-q", &remote.path().display().to_string(), "clone"])
        .current_dir(elsewhere.path())
        .status()
        .unwrap();
    assert!(status.success());
    let clone = elsewhere.path().join("clone");
    let omk_there = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_omk"))
            .args(args)
            .current_dir(&clone)
            .env_remove("OMK_HOME")
            .env_remove("OMK_TEST_NOW")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
        )
    };
    assert_eq!(omk_there(&["goal", "fetch"]).0, 0);
    let (code, verified) = omk_there(&["replay", &repo.goal, "--verify"]);
    assert_eq!(code, 0, "{verified}");
    let (code, proof) = omk_there(&["goal", "proof", &repo.goal]);
    assert_eq!(code, 0, "the second clone reads a ready proof");
    let landed = repo.git(&["rev-parse", "main"]);
    assert!(
        proof.contains(&format!("On `main` at `{}`", &landed[..12])),
        "{proof}"
    );
    let here = repo.omk(&["goal", "proof", "--format", "json"]).1;
    assert_eq!(
        omk_there(&["goal", "proof", &repo.goal, "--format", "json"]).1,
        here
    );
}
