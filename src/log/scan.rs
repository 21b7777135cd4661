//! Reading a log file as blocks of whole lines, in constant memory.
//!
//! Owns buffering and the detection of an unterminated last line.
//! Must not interpret the lines: it only splits bytes at `\n`.

use std::io::{self, Read};

use crate::log::line::MAX_LINE_BYTES;

/// The size of a block handed to a checker: large enough for a maximal line, small enough
/// that the blocks in flight (read, queued, checked on each core, waiting to be linked) and
/// their decoded events stay within a streaming read's memory budget (64 MB on 2 cores).
pub(crate) const BLOCK_BYTES: usize = 2 * MAX_LINE_BYTES;

/// Bytes of whole lines, each ending in `\n`, starting at `offset` in the file.
#[derive(Debug)]
pub(crate) struct Block {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl Block {
    /// Returns each line of the block without its `\n`, with its file offset.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut start = 0usize;
        memchr::memchr_iter(b'\n', &self.bytes).map(move |newline| {
            let line = (self.offset + start as u64, &self.bytes[start..newline]);
            start = newline + 1;
            line
        })
    }
}

/// What the scanner found next.
#[derive(Debug)]
pub(crate) enum Scanned {
    /// Whole lines.
    Lines(Block),
    /// A line longer than the cap starts at this offset; scanning stops.
    Overlong { offset: u64 },
    /// The end of the file; `unterminated` bytes after the last `\n` start at `offset`.
    End { offset: u64, unterminated: u64 },
}

/// Splits a byte stream into blocks of whole lines.
pub(crate) struct BlockScanner<R> {
    source: R,
    pending: Vec<u8>,
    /// Buffers of blocks their readers are done with: reused, so that a long read touches the
    /// same few pages instead of faulting in fresh ones for every block.
    spare: Vec<Vec<u8>>,
    offset: u64,
    finished: bool,
}

impl<R: Read> BlockScanner<R> {
    /// Returns a scanner whose first byte is at `offset` in the file.
    pub fn new(source: R, offset: u64) -> BlockScanner<R> {
        BlockScanner {
            source,
            pending: Vec::new(),
            spare: Vec::new(),
            offset,
            finished: false,
        }
    }

    /// Returns the next block, the overlong line that stops the scan, or the end.
    pub fn next_block(&mut self) -> io::Result<Scanned> {
        if self.finished {
            return Ok(self.end());
        }
        let at_eof = self.fill()?;
        match memchr::memrchr(b'\n', &self.pending) {
            Some(last_newline) => {
                let mut rest = self.spare.pop().unwrap_or_default();
                rest.clear();
                rest.extend_from_slice(&self.pending[last_newline + 1..]);
                self.pending.truncate(last_newline + 1);
                let bytes = std::mem::replace(&mut self.pending, rest);
                let block = Block {
                    offset: self.offset,
                    bytes,
                };
                self.offset += block.bytes.len() as u64;
                Ok(Scanned::Lines(block))
            }
            None if at_eof => {
                self.finished = true;
                Ok(self.end())
            }
            None => {
                self.finished = true;
                Ok(Scanned::Overlong {
                    offset: self.offset,
                })
            }
        }
    }

    fn end(&self) -> Scanned {
        Scanned::End {
            offset: self.offset,
            unterminated: self.pending.len() as u64,
        }
    }

    /// Hands back a block's buffer for a later block to reuse.
    pub fn recycle(&mut self, bytes: Vec<u8>) {
        // Two spares cover the block being filled while another is checked.
        if self.spare.len() < 2 && bytes.capacity() >= BLOCK_BYTES {
            self.spare.push(bytes);
        }
    }

    /// Reads until the buffer holds a block's worth of bytes; returns whether the source ended.
    fn fill(&mut self) -> io::Result<bool> {
        let wanted = BLOCK_BYTES.saturating_sub(self.pending.len());
        self.pending.reserve_exact(wanted);
        // `read_to_end` reads into the spare capacity without zeroing it first and retries
        // interrupted reads. The reservation is address space only: a small log touches (and
        // pays for) only the pages its bytes fill.
        let read = (&mut self.source)
            .take(wanted as u64)
            .read_to_end(&mut self.pending)?;
        Ok(read < wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(bytes: &[u8]) -> (Vec<(u64, Vec<u8>)>, Scanned) {
        let mut scanner = BlockScanner::new(bytes, 100);
        let mut lines = Vec::new();
        loop {
            match scanner.next_block().unwrap() {
                Scanned::Lines(block) => {
                    lines.extend(block.lines().map(|(offset, line)| (offset, line.to_vec())))
                }
                other => return (lines, other),
            }
        }
    }

    #[test]
    fn splits_lines_and_reports_unterminated_tail() {
        let (lines, end) = scan_all(b"ab\ncde\nfg");
        assert_eq!(lines, vec![(100, b"ab".to_vec()), (103, b"cde".to_vec())]);
        assert!(
            matches!(
                end,
                Scanned::End {
                    offset: 107,
                    unterminated: 2
                }
            ),
            "{end:?}"
        );
    }

    #[test]
    fn lines_longer_than_a_block_stop_the_scan() {
        let mut bytes = b"ok\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', BLOCK_BYTES + 10));
        bytes.push(b'\n');
        let (lines, end) = scan_all(&bytes);
        assert_eq!(lines.len(), 1);
        assert!(matches!(end, Scanned::Overlong { offset: 103 }), "{end:?}");
    }
}
