//! `omk goal open-pr`: the proof as a pull request of the goal's result branch.
//!
//! `--dry-run` only renders it. Otherwise the result branch and the goal itself (its log, under
//! `refs/omk/goals/<id>`, so a reviewer can fetch and verify the run) are pushed, and `gh pr
//! create` opens the pull request when `gh` is installed and signed in; when it is not, the
//! outcome carries the exact command to run. An opened pull request is recorded.

use std::path::Path;

use crate::event::{Event, PullRequestOpened};
use crate::ops::travel::{push_goal, TravelError};
use crate::project::proof::proof;
use crate::project::pull_request::{pull_request, PullRequest};
use crate::shell::clock::Clock;
use crate::shell::forge::{gh_create, gh_create_args, gh_status, ForgeError, GhStatus};
use crate::shell::git::{git_text, run_git, GitError};
use crate::state::commands::GoalCommand;
use crate::store::{GoalDir, Loaded, StoreError};

/// What to open.
#[derive(Clone, Debug)]
pub struct OpenPrRequest {
    /// The branch to merge into; `None` for the branch the user's checkout is on.
    pub base: Option<String>,
    pub draft: bool,
    pub remote: String,
    /// Only render the pull request.
    pub dry_run: bool,
}

/// What `open-pr` did.
#[derive(Debug)]
pub enum OpenPrOutcome {
    /// Rendered only.
    DryRun(PullRequest),
    /// Opened and recorded.
    Opened {
        pull_request: PullRequest,
        url: String,
        loaded: Box<Loaded>,
    },
    /// The branches were pushed, but `gh` cannot open it here: why, and the command to run.
    ByHand {
        pull_request: PullRequest,
        why: String,
        command: Vec<String>,
    },
}

/// `open-pr` could not go on.
#[derive(Debug, thiserror::Error)]
pub enum OpenPrError {
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Travel(#[from] TravelError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error("cannot write the pull request's body to {path}: {source}")]
    Body {
        path: String,
        source: std::io::Error,
    },
}

impl From<StoreError> for OpenPrError {
    fn from(error: StoreError) -> OpenPrError {
        OpenPrError::Store(Box::new(error))
    }
}

/// The file beside the log the body is written to, for `gh --body-file` (derived, never read).
pub const BODY_FILE: &str = "pull-request.md";

/// Renders the goal's pull request and, unless a dry run, opens it.
pub fn open_pr(
    goal: &GoalDir,
    repo_root: &Path,
    clock: &Clock,
    request: &OpenPrRequest,
) -> Result<OpenPrOutcome, OpenPrError> {
    let loaded = goal.load()?;
    let state = &loaded.state;
    state
        .check_command(GoalCommand::OpenPr)
        .map_err(|refusal| OpenPrError::from(StoreError::Refused(refusal)))?;
    let base = match &request.base {
        Some(base) => base.clone(),
        None => git_text(repo_root, &["symbolic-ref", "--quiet", "--short", "HEAD"])
            .unwrap_or_else(|_| "main".to_owned()),
    };
    let pull_request = pull_request(&proof(state, loaded.head(), loaded.tree_head()), &base);
    if request.dry_run {
        return Ok(OpenPrOutcome::DryRun(pull_request));
    }
    push_goal(goal, repo_root, &request.remote)?;
    let branch = &pull_request.head;
    run_git(
        repo_root,
        &[
            "push",
            "--quiet",
            "--force",
            &request.remote,
            &format!("{branch}:refs/heads/{branch}"),
        ],
    )?;
    let body_file = goal.dir().join(BODY_FILE);
    std::fs::write(&body_file, &pull_request.body).map_err(|source| OpenPrError::Body {
        path: body_file.display().to_string(),
        source,
    })?;
    let command = gh_create_args(
        &base,
        branch,
        &pull_request.title,
        &body_file,
        request.draft,
    );
    let why = match gh_status(repo_root) {
        GhStatus::Ready => {
            let url = gh_create(repo_root, &command)?;
            let commit = state
                .result
                .as_ref()
                .map_or(String::new(), |result| result.commit.clone());
            let opened = PullRequestOpened {
                url: url.clone(),
                base,
                branch: branch.clone(),
                commit,
                draft: request.draft,
            };
            let (loaded, _) = goal.transact(clock.now(), |_| {
                Ok(vec![Event::PullRequestOpened(opened.clone())])
            })?;
            return Ok(OpenPrOutcome::Opened {
                pull_request,
                url,
                loaded: Box::new(loaded),
            });
        }
        GhStatus::Missing => "`gh` is not installed".to_owned(),
        GhStatus::NotAuthenticated(said) => format!("`gh` is not signed in ({said})"),
    };
    let mut command_line = vec!["gh".to_owned()];
    command_line.extend(command);
    Ok(OpenPrOutcome::ByHand {
        pull_request,
        why,
        command: command_line,
    })
}
