//! omk: a proof-backed engineering runtime built on an event-sourced engine.
//!
//! The only source of truth for a goal is its append-only, hash-chained event log ([`log`]).
//! Typed events ([`event`]) are folded into state; everything else is a projection of the log.
//! The binary is a thin layer over this library ([`cli`]).

pub mod cli;
pub mod event;
pub mod log;
pub mod ops;
pub mod plan;
pub mod project;
pub mod schema;
pub mod shell;
pub mod state;
pub mod store;
pub mod trust;
