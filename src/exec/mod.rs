//! The imperative shell: the clock and ids, git, the repository scan, and external processes.
//!
//! Everything here has side effects or reads the world; it reports what happened as values
//! that the commands turn into events. Must not decide what a goal may do: that is `state`'s.

pub mod agent;
pub mod agent_process;
pub mod clock;
pub mod config;
pub mod demo;
pub mod git;
pub mod intake;
pub mod lease;
pub mod planner;
pub mod process;
pub mod replay;
pub mod review;
pub mod scan;
pub mod verify;
pub mod wave;
pub mod worktree;
