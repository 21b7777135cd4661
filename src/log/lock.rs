//! The advisory lock that serialises writers and keeps readers from seeing an append half-done.
//!
//! The lock is a `flock` on the log file itself, so no lock file ever appears beside a log and a
//! read-only copy of a goal can still be read under a shared lock. Released when the guard drops.
//! Uses `std::fs::File::lock` rather than fs2: see ARCHITECTURE.md.
//! Note that `flock` locks belong to an open file: two guards in one process exclude each other.

use std::fs::{File, OpenOptions};
use std::io;

use crate::log::paths::LogPaths;

/// A held lock on a log; dropping it unlocks.
#[derive(Debug)]
pub(crate) struct LogLock {
    _file: File,
}

impl LogLock {
    /// Returns the exclusive lock, waiting for other holders; `create` makes a missing log.
    pub fn exclusive(paths: &LogPaths, create: bool) -> io::Result<LogLock> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .open(paths.log())?;
        file.lock()?;
        Ok(LogLock { _file: file })
    }

    /// Returns a shared lock, waiting for a writer to finish its append.
    pub fn shared(paths: &LogPaths) -> io::Result<LogLock> {
        let file = File::open(paths.log())?;
        file.lock_shared()?;
        Ok(LogLock { _file: file })
    }
}
