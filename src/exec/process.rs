//! Running an external command to completion with a deadline, its output captured.
//!
//! Used for git and the planner hook. A command that outlives its deadline is killed and
//! reported as timed out; stdin is given (or closed) so a child never waits for a terminal.
// The one module allowed to start processes (clippy.toml bans `Command` elsewhere).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The most output kept from one stream; the rest is read and dropped.
pub const MAX_CAPTURE: usize = 8 << 20;

/// What a finished command left.
#[derive(Debug)]
pub struct Finished {
    /// Returns the exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// Returns the captured stdout.
    pub stdout: Vec<u8>,
    /// Returns the captured stderr.
    pub stderr: Vec<u8>,
}

/// A command could not run to completion.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("`{program}` did not finish within {secs}s and was killed")]
    TimedOut { program: String, secs: u64 },
    #[error("waiting for `{program}` failed: {source}")]
    Wait { program: String, source: io::Error },
}

/// A command to run: program, arguments, working directory, environment and stdin.
pub struct Run<'a> {
    pub program: &'a str,
    pub args: &'a [&'a str],
    pub dir: &'a Path,
    pub env: &'a [(&'a str, &'a str)],
    pub stdin: Option<&'a [u8]>,
    pub timeout: Duration,
    /// Returns where to keep the last bytes of stdout as they arrive, for a live view.
    pub tail: Option<&'a Tail>,
}

/// The last bytes a running command printed, shared with whoever shows its progress.
#[derive(Debug, Default)]
pub struct Tail(std::sync::Mutex<Vec<u8>>);

/// How many bytes a `Tail` keeps.
const TAIL_BYTES: usize = 4096;

impl Tail {
    /// Returns the last non-empty line printed so far.
    pub fn last_line(&self) -> String {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_owned()
    }

    fn push(&self, bytes: &[u8]) {
        if let Ok(mut tail) = self.0.lock() {
            tail.extend_from_slice(bytes);
            let excess = tail.len().saturating_sub(TAIL_BYTES);
            tail.drain(..excess);
        }
    }
}

/// Runs the command and returns what it left; kills it at the deadline.
pub fn run(spec: &Run<'_>) -> Result<Finished, ProcessError> {
    let program = spec.program.to_owned();
    let mut command = Command::new(spec.program);
    command
        .args(spec.args)
        .current_dir(spec.dir)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills everything it started.
        .process_group(0);
    for (key, value) in spec.env {
        command.env(key, value);
    }
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
        program: program.clone(),
        source,
    })?;
    let stdin = spec.stdin.map(<[u8]>::to_vec);
    let mut input = child.stdin.take();
    let writer = thread::spawn(move || {
        if let (Some(pipe), Some(bytes)) = (input.as_mut(), stdin) {
            // A child that exits without reading its input is not our error.
            let _ = pipe.write_all(&bytes);
        }
        drop(input);
    });
    let tail = spec.tail;
    let finished = thread::scope(|scope| {
        let stdout = child
            .stdout
            .take()
            .map(|pipe| scope.spawn(move || capture(pipe, tail)));
        let stderr = child
            .stderr
            .take()
            .map(|pipe| scope.spawn(move || capture(pipe, None)));
        let status = wait_for(&mut child, spec.timeout, &program);
        let joined = |handle: Option<thread::ScopedJoinHandle<'_, Vec<u8>>>| {
            handle
                .and_then(|handle| handle.join().ok())
                .unwrap_or_default()
        };
        status.map(|status| Finished {
            code: status.code(),
            stdout: joined(stdout),
            stderr: joined(stderr),
        })
    });
    let _ = writer.join();
    finished
}

/// Waits for `child`, killing its whole process group at the deadline.
fn wait_for(
    child: &mut std::process::Child,
    timeout: Duration,
    program: &str,
) -> Result<std::process::ExitStatus, ProcessError> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                signal_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                return Err(ProcessError::TimedOut {
                    program: program.to_owned(),
                    secs: timeout.as_secs(),
                });
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(source) => {
                return Err(ProcessError::Wait {
                    program: program.to_owned(),
                    source,
                })
            }
        }
    }
}

/// Sends `signal` to the process group led by `pid`.
pub fn signal_group(pid: u32, signal: i32) {
    let Ok(group) = i32::try_from(pid) else {
        return;
    };
    if group > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

/// Reads a pipe to its end, keeping up to `MAX_CAPTURE` bytes and feeding `tail` as it goes.
fn capture(mut pipe: impl Read, tail: Option<&Tail>) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                let room = MAX_CAPTURE.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..read.min(room)]);
                if let Some(tail) = tail {
                    tail.push(&buffer[..read]);
                }
            }
        }
    }
    kept
}
