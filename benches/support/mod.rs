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
