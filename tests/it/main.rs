//! The integration tests, as one crate: one link instead of one per file, which was most of a
//! cold `cargo test` on two cores. Each module is a former test file, run as before.
//! (`log_concurrency` stays a crate of its own: it re-executes itself as child processes.)

mod common;

mod agent_transcripts;
mod cli_daily;
mod cli_demo;
mod cli_execute;
mod cli_fix_loop;
mod cli_goal;
mod cli_land;
mod cli_log;
mod cli_proof;
mod cli_replay;
mod cli_travel;
mod cli_verify;
mod compat;
mod goal_properties;
mod golden_goals;
mod golden_logs;
mod hardening;
mod log_properties;
mod log_writer;
mod merkle;
mod replay_streaming;
mod report;
mod schemas;
mod tidy;
mod trust;
mod verdict_properties;
