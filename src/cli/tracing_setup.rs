//! Tracing on stderr, only when asked for: `-v`, `-vv`, or a filter in `OMK_LOG`.
//!
//! Without either no subscriber is installed, so each trace point costs one relaxed load.
//! Traces go to stderr only: standard output stays the command's result (JSON included).

use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::cli::Failure;

/// The variable that takes a filter in `tracing`'s env-filter syntax (`debug`, `omk=trace`).
const FILTER_VAR: &str = "OMK_LOG";

/// Installs the subscriber `verbose` (the count of `-v`) or `OMK_LOG` asks for, if any.
pub(crate) fn init(verbose: u8) -> Result<(), Failure> {
    let filter = match std::env::var(FILTER_VAR) {
        Ok(text) if !text.trim().is_empty() => EnvFilter::try_new(&text).map_err(|error| {
            Failure::hinted(
                anyhow::anyhow!("{FILTER_VAR}={text} is not a filter: {error}"),
                format!("use a level (error, warn, info, debug, trace) or `omk=debug`, or unset {FILTER_VAR}"),
            )
        })?,
        _ => match verbose {
            0 => return Ok(()),
            // The command, and every process (git among them) with its duration and exit.
            1 => EnvFilter::new("omk=info"),
            // Also appends, folds and reads.
            2 => EnvFilter::new("omk=debug"),
            _ => EnvFilter::new("omk=trace"),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .init();
    Ok(())
}
