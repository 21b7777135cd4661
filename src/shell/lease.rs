//! Who holds a lease, and whether that holder still lives.
//!
//! A holder is `<pid>.<start>@<host>`: the process id, its start time in clock ticks since
//! boot (so a reused pid is not mistaken for the holder), and the host name. On the same host
//! a holder whose process is gone is known dead at once; on another host only the lease's
//! expiry can tell.

use std::fs;

use crate::shell::procfs::process_start;

/// A process that can hold leases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub start: u64,
    pub host: String,
}

/// What is known about a holder from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Gone,
    /// On another host: only the lease's expiry can say.
    Unknown,
}

impl Holder {
    /// Returns this process as a holder.
    pub fn current() -> Holder {
        let pid = std::process::id();
        Holder {
            pid,
            start: process_start(pid).unwrap_or(0),
            host: host_name(),
        }
    }

    /// Returns the holder written as `<pid>.<start>@<host>`, or `None` if it is not one.
    pub fn parse(text: &str) -> Option<Holder> {
        let (process, host) = text.split_once('@')?;
        let (pid, start) = process.split_once('.').unwrap_or((process, "0"));
        Some(Holder {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
            host: host.to_owned(),
        })
    }

    /// Returns whether the holder's process still runs, as far as this host can tell.
    pub fn liveness(&self) -> Liveness {
        if self.host != host_name() {
            return Liveness::Unknown;
        }
        match process_start(self.pid) {
            Some(start) if self.start == 0 || start == self.start => Liveness::Alive,
            _ => Liveness::Gone,
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}@{}", self.pid, self.start, self.host)
    }
}

fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_gone() {
        let me = Holder::current();
        assert!(me.start > 0);
        assert_eq!(Holder::parse(&me.to_string()), Some(me.clone()));
        assert_eq!(me.liveness(), Liveness::Alive);
        let reused = Holder {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(
            reused.liveness(),
            Liveness::Gone,
            "a reused pid is not the holder"
        );
        let elsewhere = Holder {
            host: "elsewhere.example".into(),
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
        assert_eq!(Holder::parse("garbage"), None);
    }
}
