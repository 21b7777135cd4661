//! The shell: the outside world as plain services, below `store`.
//!
//! The clock and ids, the one process supervisor, git, task worktrees, leases, the repository
//! scan, the planner hook and the agent backends. Everything here has side effects or reads
//! the world, and reports what happened as values. Must not decide what a goal may do (that is
//! `state`'s), and must not import `store`, `ops` or `cli`.

pub mod agent;
pub mod agent_process;
pub mod checkout;
pub mod clock;
pub mod forge;
pub mod git;
pub mod git_store;
pub mod interrupt;
pub mod keystore;
pub mod lease;
pub mod planner;
pub mod process;
pub mod procfs;
pub mod scan;
pub mod worktree;
