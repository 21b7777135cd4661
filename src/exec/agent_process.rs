//! One agent process: launched in its own process group in its worktree, its output streamed
//! into content-addressed transcripts and read for usage, stopped on timeout or on request.
//!
//! Stopping kills the whole process group (TERM, then KILL after a grace period), so nothing
//! the agent started outlives it.
// The shell's agent launcher (clippy.toml bans processes elsewhere).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::exec::agent::{AgentReport, Dialect, Invocation, UsageReader};
use crate::exec::process::signal_group;
use crate::log::artifacts::{ArtifactRef, ArtifactStore};

/// How long a stopped agent gets between TERM and KILL.
const GRACE: Duration = Duration::from_secs(2);

/// A launched agent, not yet waited for.
pub struct Launched {
    pub pid: u32,
    child: Child,
    stdin: Option<Vec<u8>>,
}

/// How an agent process ended.
#[derive(Debug)]
pub struct Ended {
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub interrupted: bool,
    pub duration: Duration,
    /// Returns the stdout transcript, or why it could not be stored.
    pub stdout: Result<ArtifactRef, String>,
    /// Returns the stderr transcript, or why it could not be stored.
    pub stderr: Result<ArtifactRef, String>,
    pub report: AgentReport,
}

/// Starts the agent in `worktree`, in a process group of its own.
pub fn launch(invocation: &Invocation, worktree: &Path) -> std::io::Result<Launched> {
    let mut command = Command::new(&invocation.program);
    command
        .args(&invocation.args)
        .current_dir(worktree)
        .envs(invocation.env.iter().map(|(key, value)| (key, value)))
        .stdin(if invocation.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = command.spawn()?;
    let pid = child.id().unwrap_or(0);
    Ok(Launched {
        pid,
        child,
        stdin: invocation.stdin.clone(),
    })
}

/// Waits for the agent, streaming its output into `store`; kills its group at `timeout` or
/// when `stop` turns true. Transcripts are named `<name_prefix>stdout` and `…stderr`.
pub async fn supervise(
    mut launched: Launched,
    dialect: Dialect,
    store: ArtifactStore,
    name_prefix: String,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> Ended {
    let started = Instant::now();
    if let (Some(mut pipe), Some(bytes)) = (launched.child.stdin.take(), launched.stdin.take()) {
        tokio::spawn(async move {
            // An agent that exits without reading its prompt is not our error.
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let stdout = launched.child.stdout.take();
    let stderr = launched.child.stderr.take();
    let out_store = store.clone();
    let out_name = format!("{name_prefix}stdout");
    let stdout_task =
        tokio::spawn(async move { stream(stdout, &out_store, &out_name, Some(dialect)).await });
    let err_name = format!("{name_prefix}stderr");
    let stderr_task = tokio::spawn(async move { stream(stderr, &store, &err_name, None).await });
    let pid = launched.pid;
    let (mut timed_out, mut interrupted) = (false, false);
    let status = tokio::select! {
        status = launched.child.wait() => status.ok(),
        () = tokio::time::sleep(timeout) => {
            timed_out = true;
            stop_group(pid, &mut launched.child).await
        }
        () = wait_for_stop(&mut stop) => {
            interrupted = true;
            stop_group(pid, &mut launched.child).await
        }
    };
    let stopped = || (Err("the transcript reader stopped".to_owned()), None);
    let (stdout, reader) = stdout_task.await.unwrap_or_else(|_| stopped());
    let (stderr, _) = stderr_task.await.unwrap_or_else(|_| stopped());
    let exit_code = status.and_then(|status| status.code());
    Ended {
        exit_code,
        timed_out,
        interrupted,
        duration: started.elapsed(),
        stdout,
        stderr,
        report: reader
            .map(|reader| reader.finish(exit_code))
            .unwrap_or_default(),
    }
}

async fn wait_for_stop(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            // The sender is gone: nobody can ask to stop any more.
            std::future::pending::<()>().await;
        }
    }
}

/// Sends TERM to the whole group, then KILL after the grace period; returns the exit status.
async fn stop_group(pid: u32, child: &mut Child) -> Option<std::process::ExitStatus> {
    signal_group(pid, libc::SIGTERM);
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(status) => {
            // The leader is gone; make sure nothing it started lingers.
            signal_group(pid, libc::SIGKILL);
            status.ok()
        }
        Err(_) => {
            signal_group(pid, libc::SIGKILL);
            child.wait().await.ok()
        }
    }
}

/// Copies a pipe into an artifact line by line, reading usage from stdout as it streams.
async fn stream(
    pipe: Option<impl AsyncRead + Unpin>,
    store: &ArtifactStore,
    name: &str,
    dialect: Option<Dialect>,
) -> (Result<ArtifactRef, String>, Option<UsageReader>) {
    let mut reader = dialect.map(UsageReader::new);
    let mut writer = match store.writer() {
        Ok(writer) => writer,
        Err(error) => return (Err(error.to_string()), reader),
    };
    if let Some(pipe) = pipe {
        let mut lines = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    // A full disk shows up when the artifact is finished; keep draining the pipe.
                    let _ = writer.write_all(&line);
                    if let Some(reader) = &mut reader {
                        reader.observe(&String::from_utf8_lossy(&line));
                    }
                }
            }
        }
    }
    let media_type = if dialect.is_some() {
        "application/x-ndjson"
    } else {
        "text/plain"
    };
    (
        writer
            .finish(name, media_type)
            .map_err(|error| error.to_string()),
        reader,
    )
}
