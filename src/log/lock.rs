//! The advisory lock that serialises writers and keeps readers from seeing an append half-done.
//!
//! Owns the lock file `<stem>.lock`; the lock is released when the guard drops.
//! Uses the operating system's `flock` through `std::fs::File::lock` (see ARCHITECTURE.md for why not fs2).

use std::fs::{File, OpenOptions};
use std::io;

use crate::log::paths::LogPaths;

/// A held lock on a log; dropping it unlocks.
#[derive(Debug)]
pub(crate) struct LogLock {
    _file: File,
}

impl LogLock {
    /// Returns the exclusive lock, waiting for other holders; creates the lock file if needed.
    pub fn exclusive(paths: &LogPaths) -> io::Result<LogLock> {
        let file = open_lock_file(paths)?;
        file.lock()?;
        Ok(LogLock { _file: file })
    }

    /// Returns a shared lock, or `None` when the directory is read-only and no lock file exists.
    ///
    /// A read-only copy of a goal has no writers, so reading it unlocked is safe.
    pub fn shared(paths: &LogPaths) -> io::Result<Option<LogLock>> {
        let file = match open_lock_file(paths) {
            Ok(file) => file,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                return Ok(None)
            }
            Err(error) => return Err(error),
        };
        file.lock_shared()?;
        Ok(Some(LogLock { _file: file }))
    }
}

fn open_lock_file(paths: &LogPaths) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.lock())
}
