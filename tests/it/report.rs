//! `omk goal report` and `omk replay --format html` end to end: the page of a real finished
//! goal (the demo's) holds the verdict, the timeline and the task graph as SVG, every task,
//! gate, changed file and artifact, and the same bytes however it is asked for; text an agent,
//! a gate or a prompt wrote is shown as text, never read as markup; the page names nothing
//! outside itself; artifacts cut, missing or altered say so; errors are the other commands'.
//! When chromium is installed, it parses the page and a proxy in the test sees every request
//! it makes: the page makes none (and a page that does is caught, so the probe is real).
// Tests drive real processes: git, the binary and the browser.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use sha2::Digest as _;

use omk::event::RecordedEvent;
use omk::log::{LogPaths, LogReader};
use omk::project::report::run_lanes::{LaneKey, RunLanes, Tone};

fn omk_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_omk"))
        .args(args)
        .current_dir(dir)
        .env_remove("OMK_HOME")
        .env_remove("OMK_TEST_NOW")
        .env("SCRIPTED_AGENT_PLAN", dir.join(".agent-plan"))
        .env(
            "SCRIPTED_AGENT_STATE",
            dir.join(".git/scripted-agent-state"),
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `omk demo` in a temp dir and returns it with the demo's repository.
fn demo() -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = omk_in(
        parent.path(),
        &["demo", "--dir", parent.path().to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let demo = fs::read_dir(parent.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.is_dir())
        .unwrap();
    (parent, demo.join("repo"))
}

const HOSTILE_PROMPT: &str = "Add a --json flag to list <script>alert('prompt')</script> and <img src=\"http://omk-probe.invalid/leak.png\">. Fix the parser crash on empty input";
const HOSTILE_GATES: &str = "[gates.markup]\ncommand = \"echo '</pre><script>alert(9)</script>'; exit 1\"\nrequired = false\n\n[gates.long]\ncommand = \"seq 1 40000\"\nrequired = false\n";
const HOSTILE_AGENT: &str = "slice-1 write src/list.rs pub fn list() -> &'static str { \"json\" }\nslice-1 write <img-src=x-onerror=alert(1)>.md hello\nslice-1 say <script>alert('claim')</script> done\nslice-2 write src/parser.rs pub fn parse() -> usize { 0 }\n";

/// Returns a repository whose goal was run by the scripted agent and verified, with markup
/// in its prompt, its agent's claim, a file name and a gate's output, and a gate that prints
/// far more than the page holds.
fn hostile_goal() -> tempfile::TempDir {
    let dir = common::git_repo(&[
        ("src/list.rs", "pub fn list() {}\n"),
        ("src/parser.rs", "pub fn parse() {}\n"),
    ]);
    let root = dir.path();
    fs::write(root.join("omk.toml"), HOSTILE_GATES).unwrap();
    fs::write(root.join(".agent-plan"), HOSTILE_AGENT).unwrap();
    let agent = common::agent_cmd();
    let (code, stdout, stderr) = omk_in(
        root,
        &["goal", "run", HOSTILE_PROMPT, "--agent-cmd", &agent],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = omk_in(root, &["goal", "verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    dir
}

/// Returns the text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in the page"))
        + start.len();
    let to = from + text[from..].find(end).unwrap();
    &text[from..to]
}

/// Returns the page's section with `id`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    between(
        html,
        &format!("<section class=\"card\" id=\"{id}\">"),
        "</section>",
    )
}

/// Returns every tag of the page, without its brackets: all text on the page is escaped, so
/// each `<` opens a tag (and the stylesheet holds none).
fn tags(html: &str) -> Vec<&str> {
    html.split('<')
        .skip(1)
        .map(|rest| &rest[..rest.find('>').expect("a tag that never closes")])
        .collect()
}

/// Returns a tag's name and its attributes (`name="value"`; values hold no raw quote).
fn parse_tag(tag: &str) -> (String, Vec<(String, String)>) {
    let name = tag
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let parts: Vec<&str> = tag.split('"').collect();
    let mut attributes = Vec::new();
    for pair in parts.chunks(2).filter(|pair| pair.len() == 2) {
        let attribute = pair[0]
            .trim_end()
            .trim_end_matches('=')
            .rsplit(' ')
            .next()
            .unwrap()
            .to_ascii_lowercase();
        attributes.push((attribute, pair[1].to_owned()));
    }
    (name, attributes)
}

/// The elements the page is made of; anything else (a script, an image, a frame, a link to a
/// stylesheet) would be markup that came from the log or a reference outside the page.
const ELEMENTS: &[&str] = &[
    "!doctype",
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "header",
    "nav",
    "section",
    "footer",
    "h1",
    "h2",
    "p",
    "blockquote",
    "div",
    "span",
    "b",
    "code",
    "pre",
    "a",
    "ul",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "details",
    "summary",
    "svg",
    "g",
    "rect",
    "text",
    "path",
    "line",
    "circle",
];

/// Checks that the page loads nothing from outside itself: only its own elements, no `src`,
/// no event handler, links only to its own anchors, no URL in any attribute or in the
/// stylesheet, and a Content-Security-Policy that forbids everything but its own stylesheet.
fn assert_self_contained(html: &str) {
    for tag in tags(html) {
        let (name, attributes) = parse_tag(tag);
        let element = name.trim_start_matches('/');
        assert!(ELEMENTS.contains(&element), "unexpected element <{tag}>");
        for (attribute, value) in attributes {
            assert!(
                !matches!(
                    attribute.as_str(),
                    "src" | "srcset" | "style" | "background"
                ) && !attribute.starts_with("on"),
                "attribute {attribute} in <{tag}>"
            );
            if attribute == "href" {
                assert!(value.starts_with('#'), "a link out of the page: <{tag}>");
            }
            let lower = value.to_ascii_lowercase();
            assert!(
                !lower.contains("http:") && !lower.contains("https:") && !lower.contains("url("),
                "a URL in <{tag}>"
            );
        }
    }
    let style = between(html, "<style>", "</style>");
    for forbidden in ["url(", "@import", "http", "//"] {
        assert!(
            !style.contains(forbidden),
            "the stylesheet holds {forbidden}"
        );
    }
    assert_eq!(html.matches("<style>").count(), 1);
    // The policy admits the stylesheet by its digest: exactly the bytes on the page.
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
    let policy = format!("default-src 'none'; style-src 'sha256-{digest}'");
    assert!(
        html.contains(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">"
        )),
        "the page's policy is not {policy}"
    );
}

#[test]
fn the_demo_goals_report_holds_its_verdict_run_graph_gates_files_and_artifacts() {
    let (_parent, repo) = demo();
    let (code, stdout, stderr) = omk_in(&repo, &["goal", "report", "--out", "report.html"]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (0, "report.html\n", "")
    );
    let html = fs::read_to_string(repo.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    assert_self_contained(&html);

    // The verdict first, in the proof's words.
    let (_, proof, _) = omk_in(&repo, &["goal", "proof", "--format", "json"]);
    let proof: Value = serde_json::from_str(&proof).unwrap();
    let id = proof["goal_id"].as_str().unwrap();
    let header = between(&html, "<header class=\"card top\">", "</header>");
    assert!(
        header.contains(&format!("Goal <code>{id}</code>")),
        "{header}"
    );
    assert!(header.contains("<span class=\"verdict-word\">READY</span>"));
    assert!(header.contains("status: <b>ready</b>"));
    assert!(header.contains(
        "Every required gate passed on the claimed tree, every required task is done, the review passed, and the integrator accepted."
    ));
    assert!(header.contains("Fix the add function in calc.sh so that test.sh passes"));
    let head = &proof["head"];
    assert!(header.contains(&format!(
        "seq {} <code class=\"hash\">{}</code>",
        head["seq"],
        head["hash"].as_str().unwrap()
    )));

    // The run over time, and the graph, both drawn; every task on both.
    let timeline = section(&html, "timeline");
    assert!(
        timeline.contains("<svg class=\"chart timeline\""),
        "{timeline}"
    );
    let tasks = section(&html, "tasks");
    let graph = between(tasks, "<svg class=\"chart graph\"", "</svg>");
    for task in proof["tasks"].as_array().unwrap() {
        let task_id = task["id"].as_str().unwrap();
        assert!(
            graph.contains(&format!(">{task_id}</text>")),
            "{task_id} not in the graph"
        );
        assert!(
            timeline.contains(&format!(">{task_id}</text>")),
            "{task_id} has no lane"
        );
    }
    assert_eq!(graph.matches("<g class=\"node st-done").count(), 5);
    assert!(timeline.contains("gate test · base") && timeline.contains("gate test · claimed"));
    assert!(timeline.contains("<g class=\"bar ok\"><title>slice-1 went pending → running"));

    // Gates from base to head, as the proof has them: red on the base, green on the head.
    let gates = section(&html, "gates");
    assert!(gates.contains("<td><b>test</b></td><td><code>sh test.sh</code></td><td>yes</td><td><span class=\"pill bad\">failed</span></td><td class=\"arrow\">→</td><td><span class=\"pill ok\">passed</span>"), "{gates}");

    // The changed file, counted from the diff the log records.
    let changes = section(&html, "changes");
    assert!(changes.contains("<td><code>calc.sh</code></td><td><code>slice-1</code></td><td class=\"num add\">+1</td><td class=\"num del\">−2</td>"), "{changes}");

    // Every artifact opens in place; the gate's output says what it said.
    let artifacts = section(&html, "artifacts");
    let (_, show, _) = omk_in(&repo, &["goal", "show", "--format", "json"]);
    let show: Value = serde_json::from_str(&show).unwrap();
    for recorded in show["state"]["artifacts"].as_array().unwrap() {
        let (name, hash) = (
            recorded["artifact"]["name"].as_str().unwrap(),
            recorded["artifact"]["hash"].as_str().unwrap(),
        );
        assert!(
            artifacts.contains(&format!("id=\"artifact-{hash}\"")),
            "{name}"
        );
        // Gate output, transcripts and diffs are linked from where they belong.
        let linked = html.contains(&format!("href=\"#artifact-{hash}\""));
        let output = [
            "output.txt",
            "stdout",
            "stderr",
            "diff.patch",
            "findings.json",
        ];
        assert_eq!(
            linked,
            output.iter().any(|end| name.ends_with(end)),
            "{name}"
        );
    }
    assert!(
        artifacts.contains("FAIL: add 2 3 gave -1, expected 5"),
        "{artifacts}"
    );
    assert!(artifacts.contains("<span class=\"rem\">-add() { echo $(( $1 - $2 )); }</span>"));

    // One log, one page: on stdout, in the file, through replay, and again.
    let (_, printed, _) = omk_in(&repo, &["goal", "report", id]);
    assert_eq!(printed, html);
    let (code, replayed, _) = omk_in(&repo, &["replay", id, "--format", "html"]);
    assert_eq!((code, replayed == html), (0, true));
    let (_, again, _) = omk_in(&repo, &["goal", "report"]);
    assert_eq!(again, html);

    // Written whole: a directory that is not there is an error with a hint, and nothing is left.
    let (code, stdout, stderr) = omk_in(&repo, &["goal", "report", "--out", "missing/report.html"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        stderr.starts_with("omk: cannot write the report to missing/report.html: ")
            && stderr.contains("hint: pass --out a file in a directory that exists"),
        "{stderr}"
    );
    let leftovers: Vec<_> = fs::read_dir(&repo)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".omk-report"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn text_from_prompts_agents_gates_and_file_names_is_shown_never_read_as_markup() {
    let dir = hostile_goal();
    let (code, html, stderr) = omk_in(dir.path(), &["goal", "report"]);
    assert_eq!(code, 0, "{stderr}");
    assert_self_contained(&html);
    for raw in ["<script", "<img", "</pre><script"] {
        assert!(
            !html.to_ascii_lowercase().contains(raw),
            "{raw} reached the page"
        );
    }
    let prompt = between(&html, "<blockquote class=\"prompt\">", "</blockquote>");
    assert_eq!(
        prompt,
        "Add a --json flag to list &lt;script&gt;alert(&#39;prompt&#39;)&lt;/script&gt; and &lt;img src=&quot;http://omk-probe.invalid/leak.png&quot;&gt;. Fix the parser crash on empty input"
    );
    let tasks = section(&html, "tasks");
    assert!(
        tasks.contains(
            "(not evidence):</span> &lt;script&gt;alert(&#39;claim&#39;)&lt;/script&gt; done"
        ),
        "{tasks}"
    );
    // The gate fails alike on the base and on the head: one artifact, named by whichever of
    // the two runs recorded it first (they run side by side), so it is found by its gate alone.
    let gates_output = between(section(&html, "artifacts"), "gates/markup/", "</details>");
    assert!(
        gates_output.contains("<pre>&lt;/pre&gt;&lt;script&gt;alert(9)&lt;/script&gt;\n</pre>"),
        "{gates_output}"
    );
    // A failed gate's last lines are in the gates section too, escaped.
    assert!(section(&html, "gates").contains("&lt;/pre&gt;&lt;script&gt;alert(9)&lt;/script&gt;"));
    let changes = section(&html, "changes");
    assert!(
        changes.contains("<td><code>&lt;img-src=x-onerror=alert(1)&gt;.md</code></td>"),
        "{changes}"
    );
    assert!(changes.contains("<span class=\"pill warn\">widened</span>"));
}

#[test]
fn an_artifact_longer_than_the_page_holds_is_cut_with_the_command_that_prints_it_whole() {
    let dir = hostile_goal();
    let (_, html, _) = omk_in(dir.path(), &["goal", "report"]);
    let (_, show, _) = omk_in(dir.path(), &["goal", "show", "--format", "json"]);
    let show: Value = serde_json::from_str(&show).unwrap();
    let goal_id = show["state"]["goal_id"].as_str().unwrap();
    let long = show["state"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|recorded| &recorded["artifact"])
        .find(|artifact| artifact["name"] == "gates/long/head/output.txt")
        .unwrap();
    let hash = long["hash"].as_str().unwrap();
    assert_eq!(long["size"], 228_894, "seq 1 40000 prints 228,894 bytes");
    let shown = between(
        &html,
        &format!("id=\"artifact-{hash}\">"),
        "</div></details>",
    );
    assert!(
        shown.starts_with(&format!("<p class=\"note\">The first 64.0 KB of 228.9 KB are shown; <code>omk artifact show {} --goal {goal_id}</code> prints it whole.</p><pre>1\n2\n3\n", &hash[..16])),
        "{}",
        &shown[..300]
    );
    let text = between(shown, "<pre>", "</pre>");
    assert_eq!(text.len(), 64_000, "cut at the stated size");
    assert!(!text.contains("\n39999\n"));
    // The command the page names prints the whole of it.
    let (code, whole, _) = omk_in(
        dir.path(),
        &["artifact", "show", &hash[..16], "--goal", goal_id],
    );
    assert_eq!((code, whole.len()), (0, 228_894));
}

/// Returns a copy of the fixture goal `name` (a goal directory) in a temp dir.
fn fixture_goal(name: &str) -> (tempfile::TempDir, PathBuf) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/goals")
        .join(name)
        .join("goals/g-20261124-140000-000-gold");
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("g-20261124-140000-000-gold");
    common::copy_tree(&from, &dir);
    (temp, dir)
}

#[test]
fn every_fixture_goal_reports_the_verdict_its_proof_gives() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/goals");
    let mut names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let (_temp, dir) = fixture_goal(&name);
        let dir_arg = dir.to_str().unwrap();
        let (code, html, stderr) = omk_in(&dir, &["replay", dir_arg, "--format", "html"]);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_self_contained(&html);
        let proof: Value = serde_json::from_str(
            &fs::read_to_string(root.join(&name).join("expected/proof.json")).unwrap(),
        )
        .unwrap();
        let word = if proof["verdict"]["ready"].as_bool().unwrap() {
            "READY"
        } else {
            "NOT READY"
        };
        assert!(
            html.contains(&format!("<span class=\"verdict-word\">{word}</span>")),
            "{name}"
        );
        for blocker in proof["verdict"]["blockers"].as_array().unwrap() {
            let kind = blocker["kind"].as_str().unwrap();
            assert!(
                html.contains(&format!("<span class=\"pill bad\">{kind}</span>"))
                    || html.contains(&format!("<span class=\"pill warn\">{kind}</span>")),
                "{name}: {kind}"
            );
        }
        // Nothing beside the log was written or changed by making the page.
        let mut files: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut expected: Vec<String> =
            fs::read_dir(root.join(&name).join("goals/g-20261124-140000-000-gold"))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        expected.sort();
        assert_eq!(files, expected, "{name}");
    }
}

#[test]
fn a_two_round_goal_shows_its_rounds_and_every_run_of_each_slice() {
    let (_temp, dir) = fixture_goal("two-rounds");
    let (_, html, _) = omk_in(&dir, &["replay", dir.to_str().unwrap(), "--format", "html"]);
    let timeline = section(&html, "timeline");
    assert_eq!(timeline.matches("<g class=\"round-line\">").count(), 2);
    assert!(section(&html, "rounds").contains("required gate `test` exited 101 on the result"));
    assert!(section(&html, "gates").contains("over the rounds: <span class=\"pill bad\">failed</span> on <code>9f8d9c601756</code> → <span class=\"pill bad\">failed</span> on <code>2a2a2a2a2a2a</code> → <span class=\"pill ok\">passed</span> on <code>2b2b2b2b2b2b</code> (now)"));

    // The lanes themselves, folded from the log by the library.
    let mut lanes = RunLanes::default();
    for raw in LogReader::open(&LogPaths::for_log(dir.join("events.jsonl"))).unwrap() {
        lanes.observe(&RecordedEvent::decode(&raw.unwrap()).unwrap());
    }
    assert_eq!(lanes.n_events(), 89);
    assert_eq!(
        lanes
            .rounds()
            .iter()
            .map(|round| round.round)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let slice = &lanes.lanes()[&LaneKey::Task("slice-1".to_owned())];
    let runs: Vec<(String, Tone)> = slice
        .bars
        .iter()
        .map(|bar| (bar.label.clone(), bar.tone))
        .collect();
    assert_eq!(
        runs,
        [
            ("claude #0".to_owned(), Tone::Passed),
            ("claude r1 #0".to_owned(), Tone::Passed),
            ("claude r2 #0".to_owned(), Tone::Passed)
        ]
    );
    let test_gate = &lanes.lanes()[&LaneKey::Gate {
        gate: "test".to_owned(),
        target: "claimed".to_owned(),
    }];
    let tones: Vec<Tone> = test_gate.bars.iter().map(|bar| bar.tone).collect();
    assert_eq!(tones, [Tone::Failed, Tone::Failed, Tone::Passed]);
    // These logs predate `gate_started`: a run's own duration places its start.
    let first = &test_gate.bars[0];
    assert_eq!(
        first.end.unwrap().instant() - first.start.instant(),
        chrono::Duration::seconds(12)
    );
}

#[test]
fn replay_draws_the_page_at_an_event_and_refuses_what_the_page_does_not_do() {
    let (_temp, dir) = fixture_goal("two-rounds");
    let dir_arg = dir.to_str().unwrap();
    let (code, html, _) = omk_in(&dir, &["replay", dir_arg, "--format", "html", "--at", "40"]);
    assert_eq!(code, 0);
    assert!(html.contains("Log head</dt><dd>seq 40 "));
    assert!(html.contains("<span class=\"verdict-word\">NOT READY</span>"));
    assert!(
        !html.contains("<g class=\"round-line\">"),
        "round 1 starts at seq 41"
    );
    let (code, _, stderr) = omk_in(
        &dir,
        &["replay", dir_arg, "--format", "html", "--at", "999"],
    );
    assert_eq!(
        (code, stderr.as_str()),
        (
            2,
            "omk: there is no event seq 999: the log ends at seq 88\nhint: pass --at 0 to 88\n"
        )
    );
    for flag in [
        &["--task", "slice-1"][..],
        &["--kind", "gate_finished"],
        &["--verify"],
    ] {
        let mut args = vec!["replay", dir_arg, "--format", "html"];
        args.extend_from_slice(flag);
        let (code, stdout, stderr) = omk_in(&dir, &args);
        assert_eq!((code, stdout.as_str()), (2, ""), "{flag:?}");
        assert_eq!(
            stderr,
            format!("omk: --format html is the whole goal's report; it does not take {}\nhint: drop the flag, or pick --format text, json or md\n", flag[0])
        );
    }
}

#[test]
fn a_missing_or_altered_artifact_is_said_so_and_not_shown() {
    let (_temp, dir) = fixture_goal("ready");
    let mut stored: Vec<PathBuf> = fs::read_dir(dir.join("artifacts"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    stored.sort();
    fs::remove_file(&stored[0]).unwrap();
    fs::write(&stored[1], "<script>tampered bytes</script>").unwrap();
    let (code, html, stderr) = omk_in(&dir, &["replay", dir.to_str().unwrap(), "--format", "html"]);
    assert_eq!(code, 0, "{stderr}");
    let missing = stored[0].file_name().unwrap().to_str().unwrap();
    let altered = stored[1].file_name().unwrap().to_str().unwrap();
    let missing_body = between(&html, &format!("id=\"artifact-{missing}\">"), "</div>");
    assert!(
        missing_body.starts_with("<p class=\"note bad\">Missing from the goal's artifact store"),
        "{missing_body}"
    );
    let altered_body = between(&html, &format!("id=\"artifact-{altered}\">"), "</div>");
    assert!(
        altered_body.starts_with("<p class=\"note bad\">Altered on disk (its bytes hash to "),
        "{altered_body}"
    );
    assert!(!html.contains("tampered bytes"));
}

#[test]
fn an_unknown_goal_gets_the_error_every_goal_command_gives() {
    let dir = common::git_repo(&[("a.txt", "a\n")]);
    let (code, stdout, stderr) = omk_in(dir.path(), &["goal", "report", "g-nope"]);
    let proof = omk_in(dir.path(), &["goal", "proof", "g-nope"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert_eq!((code, stdout, stderr), proof);
    let (code, _, stderr) = omk_in(dir.path(), &["replay", "g-nope", "--format", "html"]);
    let timeline = omk_in(dir.path(), &["replay", "g-nope"]);
    assert_eq!((code, stderr), (timeline.0, timeline.2));
}

/// Returns chromium's path, if it is installed.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|candidate| candidate.is_file())
}

/// A listener that answers nothing and records the first line of every request sent to it: as
/// the browser's proxy, it sees every request a page makes, whatever the host.
struct RequestProbe {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RequestProbe {
    fn start() -> RequestProbe {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let seen = Arc::clone(&seen);
                // Recorded before the connection closes, so a page's request is on the list
                // before its load can end.
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut head = [0u8; 256];
                    let read = stream.read(&mut head).unwrap_or(0);
                    let line = String::from_utf8_lossy(&head[..read]);
                    let first = line.lines().next().unwrap_or("").to_owned();
                    seen.lock().unwrap().push(first);
                });
            }
        });
        RequestProbe { port, requests }
    }

    /// Returns the requests for `host`, any scheme or port.
    fn requests_for(&self, host: &str) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|line| {
                line.contains(&format!("//{host}")) || line.contains(&format!(" {host}:"))
            })
            .cloned()
            .collect()
    }
}

/// Runs chromium headless on `page` with every request sent to `probe`, and returns the DOM it
/// parsed; writes a screenshot to `screenshot` when given.
fn browse(chromium: &Path, page: &Path, probe: &RequestProbe, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let dom_file = profile.path().join("dom.html");
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--window-size=1280,2000",
        "--proxy-bypass-list=<-loopback>",
    ]);
    command.arg(format!("--proxy-server=127.0.0.1:{}", probe.port));
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let mut child = command
        .arg(format!("file://{}", page.display()))
        .stdout(fs::File::create(&dom_file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fs::read_to_string(dom_file).unwrap()
}

#[test]
fn a_browser_parses_the_page_as_written_and_it_requests_nothing() {
    let Some(chromium) = chromium() else {
        eprintln!("skipping: chromium not found on PATH (install it, e.g. `apt-get install chromium`, to run this test)");
        return;
    };
    let dir = hostile_goal();
    let page = dir.path().join("report.html");
    let (code, _, stderr) = omk_in(
        dir.path(),
        &["goal", "report", "--out", page.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stderr}");
    let html = fs::read_to_string(&page).unwrap();

    // The probe is real: a page that loads an image from a host the prompt names is caught.
    let probe = RequestProbe::start();
    let leaky = dir.path().join("leaky.html");
    fs::write(
        &leaky,
        "<!DOCTYPE html><p>leak</p><img src=\"http://omk-probe.invalid/leak.png\">",
    )
    .unwrap();
    browse(&chromium, &leaky, &probe, None);
    assert!(
        !probe.requests_for("omk-probe.invalid").is_empty(),
        "the probe saw no request from a page that makes one: {:?}",
        probe.requests.lock().unwrap()
    );

    let probe = RequestProbe::start();
    let dom = browse(&chromium, &page, &probe, None);
    // No request went to any host the page mentions (the browser's own are elsewhere).
    for host in ["omk-probe.invalid", "example.com"] {
        assert_eq!(probe.requests_for(host), Vec::<String>::new(), "{host}");
    }
    let asked: Vec<String> = probe.requests.lock().unwrap().clone();
    for request in &asked {
        let host = request
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .trim_start_matches("http://")
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        // A connection opened ahead of need carries no request at all.
        assert!(
            host.is_empty() || !html.contains(host),
            "the page asked for {request}"
        );
    }

    // The browser built the document the page describes: the sections, both drawings, every
    // task's box, every artifact, and the hostile text as text.
    assert_eq!(
        dom.matches("<section class=\"card\"").count(),
        html.matches("<section class=\"card\"").count()
    );
    assert!(dom.contains("<span class=\"verdict-word\">NOT READY</span>"));
    assert!(dom.contains("<svg class=\"chart timeline\""));
    assert_eq!(dom.matches("<g class=\"node ").count(), 6);
    assert_eq!(
        dom.matches("<details class=\"artifact\">").count(),
        html.matches("<details class=\"artifact\">").count()
    );
    let lower = dom.to_ascii_lowercase();
    assert!(
        !lower.contains("<script") && !lower.contains("<img"),
        "markup from the log became elements"
    );
    assert!(dom.contains("&lt;script&gt;alert('prompt')&lt;/script&gt;"));

    let screenshot = dir.path().join("report.png");
    browse(&chromium, &page, &probe, Some(&screenshot));
    let png = fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}
