//! `omk doctor`: what this machine has for omk, and what to do about what it lacks.

use std::path::PathBuf;

use clap::Args;

use crate::cli::context::locate;
use crate::cli::{print_stdout, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::ops::doctor::checkup;
use crate::project::checkup::{Check, Health};
use crate::project::to_json;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The repository whose state directory to look at (default: the one the current directory is in)
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `omk doctor`: exit 0 when nothing is a problem, 1 when something is.
pub(super) fn doctor_command(args: &DoctorArgs) -> Result<u8, Failure> {
    let dir = match &args.repo {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let (_, state_dir) = locate(Some(dir.clone()))?;
    let checkup = checkup(std::env::var_os("PATH").as_deref(), &dir, &state_dir);
    match args.format {
        Format::Json => print_stdout(&to_json(&checkup))?,
        Format::Text => print_stdout(&doctor_text(&checkup.checks))?,
    }
    Ok(if checkup.healthy() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

fn doctor_text(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|check| check.name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for check in checks {
        let mark = match check.health {
            Health::Ok => "ok     ",
            Health::Missing => "missing",
            Health::Problem => "PROBLEM",
        };
        text.push_str(&format!(
            "{mark}  {:<width$}  {}\n",
            check.name, check.found
        ));
        if let Some(hint) = &check.hint {
            text.push_str(&format!("{:<w$}hint: {hint}\n", "", w = width + 11));
        }
    }
    let problems = checks
        .iter()
        .filter(|check| check.health == Health::Problem)
        .count();
    text.push_str(&match problems {
        0 => "omk can run goals here.\n".to_owned(),
        1 => "1 problem to fix before omk can work as it should.\n".to_owned(),
        count => format!("{count} problems to fix before omk can work as it should.\n"),
    });
    text
}
