//! Measurement helpers shared by the benchmarks: the physical floor, best-of timing, peak memory.
#![allow(dead_code)] // Each benchmark uses a different subset.

use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use omk::log::hash::HASH_CONTEXT;

/// The floor: read the file, hash every line with BLAKE3 derive-key, parse every line as JSON.
pub fn floor(path: &Path) -> usize {
    let mut file = File::open(path).unwrap();
    let mut buffer = vec![0u8; 4 << 20];
    let mut carry = Vec::new();
    let mut lines = 0;
    loop {
        let read = file.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        carry.extend_from_slice(&buffer[..read]);
        let Some(last) = memchr::memrchr(b'\n', &carry) else {
            continue;
        };
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', &carry[..=last]) {
            let line = &carry[start..newline];
            let mut hasher = blake3::Hasher::new_derive_key(HASH_CONTEXT);
            hasher.update(line);
            black_box(hasher.finalize());
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(line).unwrap());
            lines += 1;
            start = newline + 1;
        }
        carry.drain(..=last);
    }
    lines
}

/// Returns the fastest of `runs` timings of `work`, in seconds.
pub fn best_of(runs: usize, mut work: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Resets the kernel's peak-resident-memory mark, so the next reading covers only what follows.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One run of a whole process: its wall time and its peak resident memory.
pub struct ProcessRun {
    pub seconds: f64,
    pub peak_kib: u64,
}

/// Runs `program args…` with `envs`, its output discarded; returns its wall time and peak
/// resident memory (from `wait4`'s resource usage, the kernel's own count for that process).
// Measures the real binary, reaped by `wait4` below rather than `Child::wait`: only `wait4`
// reports the child's resource usage.
#[allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::zombie_processes
)]
pub fn run_process(program: &str, args: &[&str], envs: &[(&str, &Path)]) -> ProcessRun {
    use std::os::unix::process::CommandExt;
    // A child's peak memory starts from its parent's at the fork (with vfork, from the
    // parent's own peak): give memory back first, and force a real fork, so the reading is the
    // child's own (`omk --version` measures what is left of this process's share).
    // SAFETY: `malloc_trim` only returns free heap pages to the kernel.
    unsafe { libc::malloc_trim(0) };
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .envs(envs.iter().map(|(name, value)| (*name, *value)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: the hook does nothing; its presence makes std fork rather than vfork.
    unsafe { command.pre_exec(|| Ok(())) };
    let start = Instant::now();
    let child = command.spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child` is our own child, waited for once, here only.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(waited, child.id() as libc::pid_t, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{program} {args:?} failed: status {status}"
    );
    ProcessRun {
        seconds,
        peak_kib: usage.ru_maxrss as u64,
    }
}

/// Returns the fastest of `runs` runs of a process, with the largest peak memory seen.
pub fn best_process(runs: usize, mut run: impl FnMut() -> ProcessRun) -> ProcessRun {
    let runs: Vec<ProcessRun> = (0..runs).map(|_| run()).collect();
    ProcessRun {
        seconds: runs
            .iter()
            .map(|run| run.seconds)
            .fold(f64::INFINITY, f64::min),
        peak_kib: runs.iter().map(|run| run.peak_kib).max().unwrap_or(0),
    }
}
