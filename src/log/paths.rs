//! Where the files of one log live: the log itself and the files kept beside it.
//!
//! Owns the naming rules only; it must not open or create anything.

use std::path::{Path, PathBuf};

/// Returns the file name of a log inside a goal directory.
pub const LOG_FILE_NAME: &str = "events.jsonl";

/// The paths of one log and its companions, all in the log's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPaths {
    log: PathBuf,
}

impl LogPaths {
    /// Returns the paths for a log file, or for the `events.jsonl` inside a directory.
    pub fn resolve(path_or_dir: &Path) -> LogPaths {
        if path_or_dir.is_dir() {
            LogPaths::for_log(path_or_dir.join(LOG_FILE_NAME))
        } else {
            LogPaths::for_log(path_or_dir.to_path_buf())
        }
    }

    /// Returns the paths for the log file at `log`.
    pub fn for_log(log: PathBuf) -> LogPaths {
        LogPaths { log }
    }

    /// Returns the log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Returns the directory holding the log.
    pub fn dir(&self) -> &Path {
        match self.log.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// Returns the head checkpoint: `<stem>.head.json`.
    pub fn checkpoint(&self) -> PathBuf {
        self.sibling("head.json")
    }

    /// Returns the directory of content-addressed artifacts: `artifacts/`.
    pub fn artifacts(&self) -> PathBuf {
        self.dir().join("artifacts")
    }

    /// Returns the side file that keeps torn bytes cut from `offset`: `<stem>.torn-<offset>[.<n>]`.
    pub fn torn_side_file(&self, offset: u64, attempt: u32) -> PathBuf {
        match attempt {
            0 => self.sibling(&format!("torn-{offset}")),
            n => self.sibling(&format!("torn-{offset}.{n}")),
        }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let stem = self
            .log
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| "events".to_owned());
        self.dir().join(format!("{stem}.{suffix}"))
    }
}
