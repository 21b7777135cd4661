//! The one process supervisor: every child omk starts (agents, gates, git, the planner) runs here.
//!
//! A child gets a process group of its own, `PWD` set to its working directory (and nothing
//! else of omk's location), and a tag in its environment (`OMK_SUPERVISOR`) that its
//! descendants inherit, so that one which leaves the group (`setsid`) is still found. One
//! deadline covers the process *and* the draining of its output. When the leader exits, at the
//! deadline, or on a stop request, whatever is left of the group and every tagged process gets
//! SIGTERM, a grace period, then SIGKILL; the [`Exit`] says how many had to be killed and
//! whether any survived. If omk itself dies, the kernel kills the leader (`PDEATHSIG`) and the
//! next command reaps the rest ([`reap_orphans`]). Output streams into its [`Capture`] as it
//! comes (memory or the artifact store), bounded by a cap: an overflow is reported as
//! `truncated`, never silent. Must not decide what an outcome means: callers do.
// The one module allowed to start processes (clippy.toml bans `Command` elsewhere).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::log::artifacts::{ArtifactError, ArtifactRef, ArtifactStore, ArtifactWriter};
use crate::plan::secrets::mask;
use crate::shell::interrupt::{self, wait_for};
use crate::shell::lease::{Holder, Liveness};
use crate::shell::procfs;

/// The environment variable that tags every process of a supervision.
pub const TAG_VAR: &str = "OMK_SUPERVISOR";
/// How long a process group gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);
/// How long output may still be drained once every process of the group is gone (a pipe held
/// by a process that escaped both the group and the tag).
const DRAIN_AFTER_END: Duration = Duration::from_secs(2);
/// How long SIGKILL is repeated until nothing of a group is left.
const KILL_SETTLE: Duration = Duration::from_secs(2);
/// How often the end of a group is checked while waiting for it.
const POLL: Duration = Duration::from_millis(20);
/// How many bytes of a stream's end are kept for progress and failure messages.
const TAIL_BYTES: usize = 4096;
/// The longest line handed to a line observer; longer lines are cut.
const MAX_OBSERVED_LINE: usize = 1 << 20;

/// A process to run under supervision.
pub struct Spec {
    pub program: String,
    pub args: Vec<String>,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    /// Written to stdin, which is then closed; `None` gives the child no stdin at all.
    pub stdin: Option<Vec<u8>>,
    /// How long the process and the draining of its output may take, together.
    pub deadline: Duration,
    /// How long the group gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    pub stdout: Capture,
    pub stderr: Capture,
    /// The arguments as traces show them, when the real ones hold what a log must not (an
    /// agent's prompt is `{prompt}` here); `None` shows `args`. Secrets are hidden either way.
    pub shown_args: Option<Vec<String>>,
}

impl Spec {
    /// Returns a spec for `program args…` in `dir`: a one-minute deadline, no stdin, and both
    /// streams kept in memory up to 64 MiB.
    pub fn new(program: &str, args: &[&str], dir: &Path) -> Spec {
        Spec {
            program: program.to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            dir: dir.to_path_buf(),
            env: Vec::new(),
            stdin: None,
            deadline: Duration::from_secs(60),
            grace: GRACE,
            stdout: Capture::memory(64 << 20),
            stderr: Capture::memory(64 << 20),
            shown_args: None,
        }
    }
}

/// Where one output stream goes, and how much of it is kept.
pub struct Capture {
    keep: Keep,
    cap: u64,
    /// How many bytes the stream carried so far, kept or not.
    seen: u64,
    tail: Arc<Tail>,
    observer: Option<LineObserver>,
}

/// Sees each line of a stream as it arrives.
type LineObserver = Box<dyn FnMut(&[u8]) + Send>;

enum Keep {
    Memory(Vec<u8>),
    Artifact {
        store: ArtifactStore,
        name: String,
        media_type: String,
    },
    Nothing,
}

impl Capture {
    /// Keeps up to `cap` bytes in memory.
    pub fn memory(cap: u64) -> Capture {
        Capture::with(Keep::Memory(Vec::new()), cap)
    }

    /// Streams up to `cap` bytes into the artifact store as `name`.
    pub fn artifact(store: ArtifactStore, name: &str, media_type: &str, cap: u64) -> Capture {
        let keep = Keep::Artifact {
            store,
            name: name.to_owned(),
            media_type: media_type.to_owned(),
        };
        Capture::with(keep, cap)
    }

    /// Keeps nothing but the tail.
    pub fn nothing() -> Capture {
        Capture::with(Keep::Nothing, 0)
    }

    fn with(keep: Keep, cap: u64) -> Capture {
        Capture {
            keep,
            cap,
            seen: 0,
            tail: Arc::default(),
            observer: None,
        }
    }

    /// Hands every complete line (with its newline) to `observer` as it arrives.
    pub fn observe_lines(mut self, observer: impl FnMut(&[u8]) + Send + 'static) -> Capture {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Returns the tail of this stream, shared with whoever shows progress.
    pub fn tail(&self) -> Arc<Tail> {
        Arc::clone(&self.tail)
    }
}

/// The last bytes a stream carried, shared with whoever shows its progress.
#[derive(Debug, Default)]
pub struct Tail(Mutex<Vec<u8>>);

impl Tail {
    /// Returns the last non-empty line printed so far.
    pub fn last_line(&self) -> String {
        self.last_lines(1)
    }

    /// Returns up to `count` last non-empty lines, oldest first, joined by newlines.
    pub fn last_lines(&self, count: usize) -> String {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<&str> = text
            .lines()
            .rev()
            .map(str::trim_end)
            .filter(|line| !line.trim().is_empty())
            .take(count)
            .collect();
        lines.reverse();
        lines.join("\n").trim().to_owned()
    }

    fn push(&self, bytes: &[u8]) {
        if let Ok(mut tail) = self.0.lock() {
            tail.extend_from_slice(&bytes[bytes.len().saturating_sub(TAIL_BYTES)..]);
            let excess = tail.len().saturating_sub(TAIL_BYTES);
            tail.drain(..excess);
        }
    }
}

/// What one stream carried.
#[derive(Debug, Default)]
pub struct Captured {
    /// The bytes kept in memory (empty unless the capture was `memory`).
    pub bytes: Vec<u8>,
    /// The artifact the stream was stored as (for an `artifact` capture).
    pub artifact: Option<ArtifactRef>,
    /// How many bytes the process wrote, kept or not.
    pub total: u64,
    /// Whether more was written than the cap kept.
    pub truncated: bool,
    /// Whether the stream was still open when draining had to give up.
    pub unfinished: bool,
    /// The stream's last bytes.
    pub tail: Arc<Tail>,
}

/// How the supervision ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The leader exited by itself.
    Exited,
    /// The deadline passed; the group was stopped.
    TimedOut,
    /// A stop was asked for (cancel, pause, Ctrl-C); the group was stopped.
    Stopped,
}

/// Processes a leader left running when it exited, and any that would not die.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// How many processes of the group (or tagged) were still running after the leader exited
    /// by itself, and were killed.
    pub killed: u32,
    /// How many were still there after SIGKILL (zero unless something escaped omk's reach).
    pub survivors: u32,
}

/// A supervised process that has ended, with its whole group.
#[derive(Debug)]
pub struct Exit {
    /// The leader's exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended the leader, if one did.
    pub signal: Option<i32>,
    pub ending: Ending,
    pub duration: Duration,
    pub pid: u32,
    pub stdout: Captured,
    pub stderr: Captured,
    pub leftovers: Leftovers,
}

impl Exit {
    /// Returns whether the leader exited 0 by itself.
    pub fn success(&self) -> bool {
        self.ending == Ending::Exited && self.code == Some(0)
    }
}

/// A process could not be supervised.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start `{program}` in {dir}: {source}")]
    Spawn {
        program: String,
        dir: String,
        source: io::Error,
    },
    #[error("waiting for `{program}` failed: {source}")]
    Wait { program: String, source: io::Error },
    #[error("cannot store the output of `{program}`: {source}")]
    Store {
        program: String,
        source: ArtifactError,
    },
    #[error("cannot start the async runtime for `{program}`: {source}")]
    Runtime { program: String, source: io::Error },
}

/// Runs `command` (a shell command line, such as `$EDITOR`) with `file` as its argument, on the
/// user's terminal, and returns whether it succeeded. Not supervised: a person drives it.
pub fn run_in_terminal(command: &str, file: &Path) -> io::Result<bool> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$1\""))
        .arg("sh")
        .arg(file)
        .status()?;
    Ok(status.success())
}

/// Runs `spec` to its end on the calling thread (for synchronous callers such as git); it is
/// stopped only by its deadline or a second Ctrl-C.
pub fn run(spec: Spec) -> Result<Exit, ProcessError> {
    run_until(spec, interrupt::Interrupt::never().receiver())
}

/// Runs `spec` to its end on the calling thread, stopping it early when `stop` turns true.
pub fn run_until(spec: Spec, stop: watch::Receiver<bool>) -> Result<Exit, ProcessError> {
    let program = spec.program.clone();
    // The trace's span (the command) goes along, so the process's lines name it.
    let span = tracing::Span::current();
    // A runtime of its own on a thread of its own, so that it works inside or outside another.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _span = span.entered();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| ProcessError::Runtime {
                        program: program.clone(),
                        source,
                    })?;
                runtime.block_on(supervise(spec, stop))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(ProcessError::Wait {
                    program: program.clone(),
                    source: io::Error::other("the supervising thread panicked"),
                })
            })
    })
}

/// Runs `spec` to its end: until its leader exits, its deadline passes, or `stop` turns true;
/// in every case nothing of its process group is left running when this returns.
pub async fn supervise(spec: Spec, stop: watch::Receiver<bool>) -> Result<Exit, ProcessError> {
    start(spec)?.wait(stop).await
}

/// The processes of one supervision: its process group (also its session) and its tag.
#[derive(Clone, Debug)]
struct Group {
    id: i32,
    tag: String,
}

impl Group {
    /// Returns the live processes of the group and those carrying its tag.
    fn scan(&self) -> procfs::Members {
        procfs::members(self.id, TAG_VAR, &self.tag)
    }

    /// Returns the same, read on a blocking thread so no async worker waits on `/proc`.
    async fn scan_off_thread(&self) -> procfs::Members {
        let group = self.clone();
        tokio::task::spawn_blocking(move || group.scan())
            .await
            .unwrap_or_default()
    }

    /// Sends `signal` to the members `scan` found: the group as a whole (only while a scan saw
    /// it, so a reused group id is never hit) and each tagged process outside it.
    fn signal(&self, scan: &procfs::Members, signal: i32) {
        if !scan.in_group.is_empty() {
            signal_group(self.id, signal);
        }
        for pid in &scan.tagged {
            if let Ok(pid) = i32::try_from(*pid) {
                if pid > 1 {
                    // SAFETY: kill(2) touches no memory.
                    unsafe {
                        libc::kill(pid, signal);
                    }
                }
            }
        }
    }
}

/// Kills what is left of a supervision that ends without being seen to its end (an error, a
/// dropped future, a runtime shutting down), and unregisters it from the interrupt handler.
struct Guard {
    group: Group,
    serial: u64,
    armed: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.armed {
            kill_now(self.group.id, &self.group.tag);
        }
        interrupt::unregister(self.serial);
    }
}

/// A supervised process that has started; [`Running::wait`] sees it to its end, and dropping
/// it kills everything it started.
pub struct Running {
    program: String,
    child: tokio::process::Child,
    pid: u32,
    guard: Guard,
    started: Instant,
    deadline: Duration,
    grace: Duration,
    stdout: (Capture, Sink),
    stderr: (Capture, Sink),
}

/// Starts `spec` under supervision; call from within a tokio runtime. The child dies with the
/// calling thread if omk is killed outright, so call it from a thread that outlives the child.
pub fn start(spec: Spec) -> Result<Running, ProcessError> {
    let Spec {
        program,
        args,
        dir,
        env,
        stdin,
        deadline,
        grace,
        mut stdout,
        mut stderr,
        shown_args,
    } = spec;
    let out_sink = Sink::open(&mut stdout, &program)?;
    let err_sink = Sink::open(&mut stderr, &program)?;
    let started = Instant::now();
    let serial = next_serial();
    let tag = format!("{}#{serial}", holder_token());
    // An omk run by a supervised process (a gate running omk's own tests) keeps the outer tags,
    // so its children stay within the outer supervision's reach too.
    let tags = match std::env::var(TAG_VAR) {
        Ok(outer) if !outer.is_empty() => format!("{outer},{tag}"),
        _ => tag.clone(),
    };
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&args)
        .current_dir(&dir)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("PWD", &dir)
        .env(TAG_VAR, &tags)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: setsid(2) and prctl(2) are async-signal-safe and touch no memory of the parent.
    // A session of its own makes the child a process group of its own, with no controlling
    // terminal: a prompt on /dev/tty fails at once instead of stopping the child until its
    // deadline. PDEATHSIG kills it with the thread that started it if omk is killed outright.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
        program: program.clone(),
        dir: dir.display().to_string(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    if tracing::enabled!(tracing::Level::INFO) {
        let shown = command_line(&program, shown_args.as_deref().unwrap_or(&args));
        tracing::info!(pid, dir = %dir.display(), "started {}", mask(&shown));
    }
    let group = Group {
        id: i32::try_from(pid).unwrap_or(0),
        tag,
    };
    interrupt::register(serial, group.id, group.tag.clone());
    let guard = Guard {
        group,
        serial,
        armed: true,
    };
    if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), stdin) {
        tokio::spawn(async move {
            // A child that exits without reading its input is not our error.
            let _ = pipe.write_all(&bytes).await;
        });
    }
    Ok(Running {
        program,
        child,
        pid,
        guard,
        started,
        deadline,
        grace,
        stdout: (stdout, out_sink),
        stderr: (stderr, err_sink),
    })
}

impl Running {
    /// Returns the leader's process id, which is also its process group's.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until the leader exits, the deadline passes, or `stop` turns true; in every case
    /// nothing of its process group is left running when this returns.
    pub async fn wait(self, mut stop: watch::Receiver<bool>) -> Result<Exit, ProcessError> {
        let Running {
            program,
            mut child,
            pid,
            mut guard,
            started,
            deadline,
            grace,
            stdout: (mut stdout, mut out_sink),
            stderr: (mut stderr, mut err_sink),
        } = self;
        let out_pipe = child.stdout.take();
        let err_pipe = child.stderr.take();
        let deadline_at = started.checked_add(deadline);
        let (status, leftovers, ending, pumped) = {
            let pumps = async {
                tokio::join!(
                    pump(out_pipe, &mut stdout, &mut out_sink),
                    pump(err_pipe, &mut stderr, &mut err_sink)
                )
            };
            tokio::pin!(pumps);
            let mut pumped = false;
            let mut status = None;
            let mut ending = Ending::Exited;
            while ending == Ending::Exited && status.is_none() {
                tokio::select! {
                    _ = &mut pumps, if !pumped => pumped = true,
                    waited = child.wait() => status = Some(waited),
                    () = sleep_until(deadline_at) => ending = Ending::TimedOut,
                    () = wait_for(&mut stop) => ending = Ending::Stopped,
                }
            }
            // The leader is done or must go: whatever is left of its group is stopped now,
            // while its output is still read (a process flushing on SIGTERM must not block).
            let (status, leftovers) = {
                let ended = end_group(&mut child, status, &guard.group, grace);
                tokio::pin!(ended);
                loop {
                    tokio::select! {
                        result = &mut ended => break result,
                        _ = &mut pumps, if !pumped => pumped = true,
                    }
                }
            };
            if !pumped {
                // Nothing tagged holds the pipes any more: what remains is buffered output,
                // unless a process escaped both the group and the tag.
                let limit = Instant::now() + DRAIN_AFTER_END;
                pumped = tokio::time::timeout_at(limit, &mut pumps).await.is_ok();
            }
            (status, leftovers, ending, pumped)
        };
        guard.armed = leftovers.survivors > 0;
        drop(guard);
        let status = status.map_err(|source| ProcessError::Wait {
            program: program.clone(),
            source,
        })?;
        // Finishing an artifact syncs it to disk: not on an async worker.
        let (stdout, stderr) =
            tokio::task::spawn_blocking(move || (out_sink.finish(stdout), err_sink.finish(stderr)))
                .await
                .map_err(|error| ProcessError::Wait {
                    program: program.clone(),
                    source: io::Error::other(error.to_string()),
                })?;
        let store_error = |source| ProcessError::Store {
            program: program.clone(),
            source,
        };
        let (mut stdout, mut stderr) = (stdout.map_err(store_error)?, stderr.map_err(store_error)?);
        stdout.unfinished = !pumped;
        stderr.unfinished = !pumped;
        tracing::info!(
            pid,
            code = status.code(),
            signal = status.signal(),
            ?ending,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "ended {program}"
        );
        Ok(Exit {
            code: status.code(),
            signal: status.signal(),
            ending,
            duration: started.elapsed(),
            pid,
            stdout,
            stderr,
            leftovers,
        })
    }
}

/// Stops what is left of the group: TERM (and CONT, so a stopped process sees it) to the
/// group and every tagged process, the grace period, then KILL until nothing is left; reaps
/// the leader. Returns the leader's status and what had to be killed.
async fn end_group(
    child: &mut tokio::process::Child,
    status: Option<io::Result<std::process::ExitStatus>>,
    group: &Group,
    grace: Duration,
) -> (io::Result<std::process::ExitStatus>, Leftovers) {
    let mut scan = group.scan_off_thread().await;
    let mut status = match status {
        Some(status) if scan.is_empty() => return (status, Leftovers::default()),
        status => status,
    };
    // Processes still running after the leader exited by itself are its leftovers; when omk
    // stops a running leader, the whole group goes with it and nothing is "left".
    let killed = if status.is_some() {
        scan.len() as u32
    } else {
        0
    };
    group.signal(&scan, libc::SIGTERM);
    group.signal(&scan, libc::SIGCONT);
    let mut reap = |status: &mut Option<io::Result<std::process::ExitStatus>>| {
        if status.is_none() {
            if let Ok(Some(exited)) = child.try_wait() {
                *status = Some(Ok(exited));
            }
        }
    };
    let give_up = Instant::now() + grace;
    loop {
        reap(&mut status);
        if status.is_some() && scan.is_empty() || Instant::now() >= give_up {
            break;
        }
        tokio::time::sleep(POLL).await;
        scan = group.scan_off_thread().await;
    }
    // SIGKILL cannot be ignored; send it until nothing is left, in case something forked late.
    let settle = Instant::now() + KILL_SETTLE;
    while !(status.is_some() && scan.is_empty()) && Instant::now() < settle {
        group.signal(&scan, libc::SIGKILL);
        tokio::time::sleep(POLL).await;
        reap(&mut status);
        scan = group.scan_off_thread().await;
    }
    let status = status.unwrap_or_else(|| {
        Err(io::Error::other(
            "the process was still there after SIGKILL (stuck in the kernel)",
        ))
    });
    let leftovers = Leftovers {
        killed,
        survivors: scan.len() as u32,
    };
    (status, leftovers)
}

/// Returns a program and its arguments as one line for a trace, each cut to a readable size
/// (an agent's prompt can be pages long).
fn command_line(program: &str, args: &[String]) -> String {
    const SHOWN: usize = 80;
    let mut line = program.to_owned();
    for arg in args {
        line.push(' ');
        match arg.char_indices().nth(SHOWN) {
            Some((cut, _)) => {
                line.push_str(&arg[..cut]);
                line.push('…');
            }
            None => line.push_str(arg),
        }
    }
    line
}

/// Sends `signal` to process group `group`.
pub fn signal_group(group: i32, signal: i32) {
    if group > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

/// Kills group `group` and every process carrying `tag` at once (a second Ctrl-C, a dropped
/// supervision).
pub(crate) fn kill_now(group: i32, tag: &str) {
    let group = Group {
        id: group,
        tag: tag.to_owned(),
    };
    let scan = group.scan();
    group.signal(&scan, libc::SIGKILL);
}

/// Kills processes left by a supervisor that is gone (omk killed outright), among those whose
/// working directory is under `dir`; returns how many.
pub fn reap_orphans(dir: &Path) -> u32 {
    let me = holder_token();
    let prefix = format!("{TAG_VAR}=");
    let mut killed = 0;
    for (pid, tags) in procfs::tagged(prefix.as_bytes()) {
        // The last tag is the process's own supervisor; outer ones belong to an omk above it.
        let holder = tags
            .rsplit(',')
            .next()
            .unwrap_or("")
            .split('#')
            .next()
            .unwrap_or("");
        let orphan = holder != me
            && !holder_alive(holder)
            && procfs::process_cwd(pid).is_some_and(|cwd| cwd.starts_with(dir));
        if let (true, Ok(pid)) = (orphan, i32::try_from(pid)) {
            // SAFETY: kill(2) touches no memory.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            killed += 1;
        }
    }
    killed
}

/// Returns whether the holder a tag names may still run (on another host, it may).
fn holder_alive(holder: &str) -> bool {
    Holder::parse(holder).is_some_and(|holder| holder.liveness() != Liveness::Gone)
}

/// Returns this process as a lease holder (`<pid>.<start>@<host>`), the first part of every
/// tag it hands out.
fn holder_token() -> String {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| Holder::current().to_string()).clone()
}

fn next_serial() -> u64 {
    static SERIAL: AtomicU64 = AtomicU64::new(1);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An open destination for one stream.
enum Sink {
    Memory,
    /// The writer, and the first write that failed (reported when the stream is finished).
    Artifact(Box<ArtifactWriter>, Option<io::Error>),
    Nothing,
}

impl Sink {
    fn open(capture: &mut Capture, program: &str) -> Result<Sink, ProcessError> {
        Ok(match &capture.keep {
            Keep::Memory(_) => Sink::Memory,
            Keep::Artifact { store, .. } => {
                let writer = store.writer().map_err(|source| ProcessError::Store {
                    program: program.to_owned(),
                    source,
                })?;
                Sink::Artifact(Box::new(writer), None)
            }
            Keep::Nothing => Sink::Nothing,
        })
    }

    fn finish(self, capture: Capture) -> Result<Captured, ArtifactError> {
        let total = capture.seen;
        let mut captured = Captured {
            total,
            truncated: total > capture.cap,
            tail: capture.tail,
            ..Captured::default()
        };
        match (self, capture.keep) {
            (Sink::Artifact(_, Some(failure)), Keep::Artifact { store, .. }) => {
                return Err(store.error(failure));
            }
            (
                Sink::Artifact(writer, None),
                Keep::Artifact {
                    name, media_type, ..
                },
            ) => {
                captured.artifact = Some(writer.finish(&name, &media_type)?);
            }
            (_, Keep::Memory(bytes)) => captured.bytes = bytes,
            _ => {}
        }
        Ok(captured)
    }
}

/// Copies a pipe into its capture until the pipe ends; a write error to the artifact store is
/// kept for the end, and the pipe is drained regardless so the child never blocks on it.
async fn pump(pipe: Option<impl AsyncRead + Unpin>, capture: &mut Capture, sink: &mut Sink) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let mut line = Vec::new();
    loop {
        let read = match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &buffer[..read];
        let room = capture.cap.saturating_sub(capture.seen);
        let kept = &chunk[..chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        match (&mut *sink, &mut capture.keep) {
            (Sink::Memory, Keep::Memory(bytes)) => bytes.extend_from_slice(kept),
            (Sink::Artifact(writer, failure @ None), _) => {
                // A full disk is reported when the stream is finished; keep draining the pipe.
                if let Err(error) = writer.write_all(kept) {
                    *failure = Some(error);
                }
            }
            _ => {}
        }
        capture.seen += read as u64;
        capture.tail.push(chunk);
        if let Some(observer) = &mut capture.observer {
            for piece in chunk.split_inclusive(|byte| *byte == b'\n') {
                line.extend_from_slice(
                    &piece[..piece
                        .len()
                        .min(MAX_OBSERVED_LINE.saturating_sub(line.len()))],
                );
                if piece.ends_with(b"\n") {
                    observer(&line);
                    line.clear();
                }
            }
        }
    }
    if let Some(observer) = &mut capture.observer {
        if !line.is_empty() {
            observer(&line);
        }
    }
}

#[cfg(test)]
mod tests;
