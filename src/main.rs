//! The `omk` binary: a thin layer over the library's command-line entry point.

fn main() -> std::process::ExitCode {
    omk::cli::main()
}
