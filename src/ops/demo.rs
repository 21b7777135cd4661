//! `omk demo`: a whole goal on a fresh machine, with nothing but git.
//!
//! It creates a small git repository whose test fails, then runs a goal there end to end:
//! planning, a bundled *scripted* agent (it applies a recorded change; it is not a model) in a
//! real worktree, real gates (the test, red on the base and green on the result), the review,
//! an acceptance recorded on the user's behalf and labelled as such, the landing on the demo
//! repository's `main`, the proof, and `omk replay --verify`. Everything stays on disk for the
//! user to inspect.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::event::{BudgetLimits, Decision, Event, IntegrationDecided, LandMethod, RunMode};
use crate::ops::intake::{start_goal, StartRequest};
use crate::ops::land::{land_goal, LandRequest};
use crate::ops::replay::{verify_goal_dir, ReplayReport};
use crate::ops::review::review_goal;
use crate::ops::settings::{load_settings, Overrides};
use crate::ops::verify::{verify_goal, VerifyRequest};
use crate::ops::wave::{execute, WaveOptions};
use crate::project::show::plural;
use crate::shell::agent::backend;
use crate::shell::clock::Clock;
use crate::shell::git::run_git;
use crate::shell::interrupt::Interrupt;
use crate::state::verdict::Verdict;
use crate::store::{GoalDir, Loaded, StateDir};
use crate::trust::SigningKey;

/// The scripted agent, bundled so the demo needs no file from the source tree.
const SCRIPTED_AGENT: &str = include_str!("../../fixtures/agents/scripted-agent.sh");
/// The goal the demo runs.
pub const DEMO_PROMPT: &str = "Fix the add function in calc.sh so that test.sh passes";

/// Where the demo left everything, and how it ended.
pub struct DemoRun {
    pub root: PathBuf,
    pub repo: PathBuf,
    pub goal: GoalDir,
    pub loaded: Loaded,
    pub verdict: Verdict,
    pub replay: ReplayReport,
}

/// A step of the demo failed.
#[derive(Debug, thiserror::Error)]
#[error("omk demo failed while {step}: {detail}")]
pub struct DemoError {
    pub step: &'static str,
    pub detail: String,
}

fn step<T, E: std::fmt::Display>(step: &'static str, result: Result<T, E>) -> Result<T, DemoError> {
    result.map_err(|error| DemoError {
        step,
        detail: error.to_string(),
    })
}

/// Runs the demo under a new directory in `parent`; reports each step through `say`.
/// The goal's checkpoints are signed with `signing_key` when the user has one.
pub fn run_demo(
    parent: &Path,
    clock: &Clock,
    signing_key: Option<SigningKey>,
    say: &mut dyn FnMut(&str),
) -> Result<DemoRun, DemoError> {
    // `--dir` names where to create the demo: made if it is not there yet.
    step("creating its directory", std::fs::create_dir_all(parent))?;
    let root = step(
        "creating its directory",
        tempfile::Builder::new()
            .prefix("omk-demo-")
            .tempdir_in(parent),
    )?
    .keep();
    let repo = root.join("repo");
    let agent_dir = root.join("scripted-agent");
    step(
        "writing the demo repository",
        write_files(&repo, &agent_dir),
    )?;
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=omk demo",
            "-c",
            "user.email=demo@localhost",
            "commit",
            "-qm",
            "a calculator whose add is wrong",
        ],
    ] {
        step("creating the git repository", run_git(&repo, args))?;
    }
    say(&format!(
        "demo repository: {} (test.sh fails: add subtracts)",
        repo.display()
    ));
    let state_dir = StateDir::new(repo.join(".omk")).signing_with(signing_key);
    let agent_cmd = format!("sh {}", agent_dir.join("agent.sh").display());
    let request = StartRequest {
        repo_root: repo.clone(),
        prompt: DEMO_PROMPT.to_owned(),
        budget: BudgetLimits::default(),
        mode: RunMode::Run,
        agent: Some("command".to_owned()),
        agent_cmd: Some(agent_cmd.clone()),
        planner: None,
        planner_timeout: Duration::from_secs(60),
        interrupt: Interrupt::never(),
        planner_agent: None,
    };
    let (goal, loaded) = step("planning", start_goal(&state_dir, &request, clock))?;
    say(&format!(
        "planned goal {}: {} tasks",
        loaded.state.goal_id,
        loaded.state.tasks.tasks().len()
    ));
    let mut agent = step("choosing the agent", backend("command", Some(&agent_cmd)))?;
    agent.env = vec![
        (
            "SCRIPTED_AGENT_PLAN".to_owned(),
            agent_dir.join("plan.txt").display().to_string(),
        ),
        (
            "SCRIPTED_AGENT_STATE".to_owned(),
            agent_dir.join("state").display().to_string(),
        ),
    ];
    let settings = step(
        "reading omk.toml",
        load_settings(&repo, None, &Overrides::default()),
    )?;
    let options = WaveOptions {
        backend: agent,
        max_agents: 2,
        agent_timeout: Duration::from_secs(120),
        lease_ttl: Duration::from_secs(30),
        poll: Duration::from_millis(200),
        interrupt: Interrupt::never(),
        scope: settings.scope.clone(),
    };
    let executed = step(
        "executing",
        execute(&goal, &repo, clock, &options, &mut |_| {}),
    )?;
    let (done, total) = executed.loaded.state.tasks.progress();
    say(&format!(
        "executed: {done} of {total} tasks done; the agent's change is on its own branch"
    ));
    let verify = VerifyRequest {
        gates: settings.gates,
        max_parallel: settings.max_parallel,
        task: None,
        interrupt: Interrupt::never(),
    };
    let verified = step(
        "verifying",
        verify_goal(&goal, &repo, clock, &verify, &mut |_| {}),
    )?;
    let proof = crate::project::proof::proof(
        &verified.loaded.state,
        verified.loaded.head(),
        verified.loaded.tree_head(),
    );
    for gate in &proof.gates {
        say(&format!(
            "verified: gate `{}` {} on the base commit, {} on the goal's tree",
            gate.gate,
            gate.base.unwrap_or("did not run"),
            gate.head
        ));
    }
    let reviewed = step("reviewing", review_goal(&goal, &repo, clock))?;
    if let Some(review) = &reviewed.state.review {
        say(&format!(
            "reviewed: {} ({}, {})",
            if review.passed { "passed" } else { "failed" },
            plural(review.files_reviewed, "file"),
            plural(review.findings.len() as u64, "finding")
        ));
    }
    let note =
        "accepted by `omk demo` on your behalf, to show a complete run (a real goal waits for you)"
            .to_owned();
    let (loaded, _) = step(
        "accepting",
        goal.transact(clock.now(), |_| {
            Ok(vec![Event::IntegrationDecided(IntegrationDecided {
                decision: Decision::Accepted,
                note: note.clone(),
            })])
        }),
    )?;
    let verdict = crate::state::verdict::verdict(&loaded.state);
    let request = LandRequest {
        into: None,
        method: LandMethod::Squash,
        verify,
        push: None,
        prune: false,
        notes: false,
    };
    let landing = step(
        "landing",
        land_goal(&goal, &repo, clock, &request, &mut |_| {}),
    )?;
    if let Ok(landed) = &landing.result {
        say(&format!(
            "landed: on {} at {}, one commit whose message names the goal (`git log` in the repository)",
            landed.into,
            crate::state::verdict::short(&landed.commit)
        ));
    }
    let loaded = landing.loaded;
    let replay = step("replaying", verify_goal_dir(goal.dir()))?;
    Ok(DemoRun {
        root,
        repo,
        goal,
        loaded,
        verdict,
        replay,
    })
}

fn write_files(repo: &Path, agent_dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(repo)?;
    fs::create_dir_all(agent_dir)?;
    fs::write(
        repo.join("calc.sh"),
        "# A tiny calculator.\nadd() { echo $(( $1 - $2 )); }\n",
    )?;
    fs::write(
        repo.join("test.sh"),
        ". ./calc.sh\nresult=$(add 2 3)\nif [ \"$result\" = 5 ]; then echo \"ok: add 2 3 = 5\"; else echo \"FAIL: add 2 3 gave $result, expected 5\"; exit 1; fi\n",
    )?;
    fs::write(
        repo.join("omk.toml"),
        "[gates.test]\ncommand = \"sh test.sh\"\ntimeout = \"60s\"\nred_first = true\n",
    )?;
    fs::write(agent_dir.join("agent.sh"), SCRIPTED_AGENT)?;
    fs::write(
        agent_dir.join("plan.txt"),
        "slice-1 write calc.sh add() { echo $(( $1 + $2 )); }\nslice-1 usage 1200 150\nslice-1 say add now adds; test.sh passes\n",
    )?;
    Ok(())
}
