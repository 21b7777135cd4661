//! What `/proc` says about processes: start times, working directories, process groups, and
//! which processes carry a supervision tag in their environment.
//!
//! Linux only, read-only, and tolerant: a process that vanishes mid-read is simply not there.
//! Must not signal or start anything; the supervisor decides what to do with what it finds.

use std::fs;
use std::path::PathBuf;

/// One line of `/proc/<pid>/stat`, the fields omk needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The one-letter state: `R`, `S`, `Z` (a zombie: dead, waiting to be reaped), ….
    pub state: char,
    pub process_group: i32,
    /// Clock ticks after boot.
    pub start: u64,
}

/// Returns the stat fields of process `pid`, or `None` if there is no such process.
pub fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last `)`.
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields from 3 on: state, ppid, pgrp, …; the start time is field 22.
    let process_group = fields.nth(1)?.parse().ok()?;
    let start = fields.nth(16)?.parse().ok()?;
    Some(Stat {
        state,
        process_group,
        start,
    })
}

/// Returns the start time (clock ticks after boot) of process `pid`, or `None` if there is none.
pub fn process_start(pid: u32) -> Option<u64> {
    stat(pid).map(|stat| stat.start)
}

/// Returns the working directory of process `pid`, when it can be read.
pub fn process_cwd(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// The live processes of one supervision: those in its process group, and those outside it
/// that carry its tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    pub in_group: Vec<u32>,
    pub tagged: Vec<u32>,
}

impl Members {
    /// Returns whether no process is left.
    pub fn is_empty(&self) -> bool {
        self.in_group.is_empty() && self.tagged.is_empty()
    }

    /// Returns how many processes are left.
    pub fn len(&self) -> usize {
        self.in_group.len() + self.tagged.len()
    }
}

/// Returns the live (not zombie) processes in process group `group`, sorted by pid.
pub fn group_members(group: i32) -> Vec<u32> {
    members(group, "", "").in_group
}

/// Returns the live (not zombie) processes, other than this one, in process group `group` or
/// whose `tag_var` entry lists `tag` among its comma-separated tags; each sorted by pid.
pub fn members(group: i32, tag_var: &str, tag: &str) -> Members {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Members::default();
    };
    let prefix = format!("{tag_var}=");
    let mut found = Members::default();
    for pid in entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
    {
        let Some(stat) = stat(pid) else {
            continue;
        };
        if stat.state == 'Z' || stat.state == 'X' {
            continue;
        }
        if stat.process_group == group {
            found.in_group.push(pid);
        } else if !tag_var.is_empty()
            && tag_of(pid, prefix.as_bytes())
                .is_some_and(|tags| tags.split(',').any(|listed| listed == tag))
        {
            found.tagged.push(pid);
        }
    }
    found.in_group.sort_unstable();
    found.tagged.sort_unstable();
    found
}

/// Returns the live processes whose environment has an entry starting with `prefix`
/// (`NAME=`), each with the rest of that entry; sorted by pid.
pub fn tagged(prefix: &[u8]) -> Vec<(u32, String)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat(*pid).is_some_and(|stat| !matches!(stat.state, 'Z' | 'X')))
        .filter_map(|pid| Some((pid, tag_of(pid, prefix)?)))
        .collect();
    found.sort_unstable();
    found
}

/// Returns the value of the environment entry of `pid` that starts with `prefix` (`NAME=`).
fn tag_of(pid: u32, prefix: &[u8]) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    let value = environ
        .split(|byte| *byte == 0)
        .find_map(|entry| entry.strip_prefix(prefix))?;
    Some(String::from_utf8_lossy(value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_stat_and_a_working_directory() {
        let me = std::process::id();
        let mine = stat(me).unwrap();
        assert!(mine.start > 0);
        assert!(matches!(mine.state, 'R' | 'S'));
        assert!(process_cwd(me).is_some());
        assert_eq!(stat(u32::MAX), None);
    }
}
