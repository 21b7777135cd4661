//! The seam between the writer and the operating system's file calls.
//!
//! Owns nothing but the two calls that make an append durable; tests inject faults through it.
//! Must not buffer, retry or hide an error: the writer decides what a failure means.

use std::fs::File;
use std::io::{self, Write};

/// The file operations whose failure the writer must survive: writing bytes and syncing them.
pub trait LogIo {
    /// Writes all of `bytes` at the end of `file`.
    fn write_all(&mut self, file: &mut File, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was written to `file` durable.
    fn sync(&mut self, file: &File) -> io::Result<()>;
}

/// The real operating system: `write(2)` and `fdatasync(2)`/`fsync(2)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsIo;

impl LogIo for OsIo {
    fn write_all(&mut self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        file.write_all(bytes)
    }

    fn sync(&mut self, file: &File) -> io::Result<()> {
        file.sync_data()
    }
}

/// Makes a new directory entry durable (a created file, a rename) by syncing its directory.
pub(crate) fn sync_dir(dir: &std::path::Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
