//! The operations: one per user verb, above `store`.
//!
//! Each takes one settings value (built once from flags and `omk.toml`, see `settings`) and
//! returns a typed outcome; it loads the goal, decides through `state`, runs side effects
//! through `shell`, and appends what happened. Must not print, parse flags or choose exit
//! codes: that is the CLI's.

pub mod agent_plan;
pub mod agents;
pub mod artifact;
pub mod attest;
pub mod clean;
pub mod demo;
pub mod doctor;
pub mod fix_loop;
pub mod gc;
pub mod intake;
pub mod land;
pub mod open_pr;
pub mod plan_edit;
pub mod replay;
pub mod report;
pub mod review;
pub mod settings;
pub mod steer;
pub mod travel;
pub mod verify;
pub mod wave;
