//! `omk agents`: the agent presets this machine can run, their versions, and the exact command
//! each runs.

use clap::Args;

use crate::cli::{print_stdout, Failure, Format, EXIT_OK};
use crate::ops::agents::survey;
use crate::project::to_json;

#[derive(Args, Debug)]
pub struct AgentsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `omk agents`.
pub(super) fn agents_command(args: &AgentsArgs) -> Result<u8, Failure> {
    let statuses = survey(std::env::var_os("PATH").as_deref());
    match args.format {
        Format::Json => print_stdout(&to_json(&serde_json::json!({ "agents": statuses })))?,
        Format::Text => {
            let mut text = String::new();
            for status in &statuses {
                let state = match (&status.path, &status.version, &status.variant) {
                    (None, _, _) => format!("not installed (no `{}` on PATH)", status.program),
                    (Some(_), _, Some(variant)) if !status.usable => variant.clone(),
                    (Some(_), Some(version), Some(variant)) => format!("{version} ({variant})"),
                    (Some(_), Some(version), None) => version.clone(),
                    (Some(path), None, _) => {
                        format!("installed at {path}, but `--version` did not answer")
                    }
                };
                let mut command = status.env.clone();
                command.extend(status.command.iter().cloned());
                text.push_str(&format!(
                    "{:<9} {state}\n          runs: {}\n",
                    status.name,
                    command.join(" ")
                ));
            }
            text.push_str("any other command: omk goal run \"…\" --agent-cmd '<command>' (the prompt on stdin)\n");
            print_stdout(&text)?;
        }
    }
    Ok(EXIT_OK)
}
