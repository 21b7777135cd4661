//! `omk key` (the signing key) and `omk verify-proof` (a signed proof, checked with a public key).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::context::{read_public_key, Context};
use crate::cli::{print_stderr, print_stdout, Failure, EXIT_FINDINGS, EXIT_OK};
use crate::log::paths::LogPaths;
use crate::ops::attest::{check_attestation, check_log, Attested};
use crate::project::show::plural;
use crate::shell::keystore::{generate_key, key_path, read_key, KeystoreError, SIGNING_KEY_VAR};
use crate::trust::Envelope;

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Make an Ed25519 signing key (outside any repository) and print its public key
    Generate(GenerateArgs),
    /// Print the signing key's public key, its id and where it is
    Show,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Replace the key that is there (heads it signed stay checkable with its public key only)
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
pub struct VerifyProofArgs {
    /// The DSSE envelope `omk goal proof --format in-toto --sign` wrote
    envelope: PathBuf,
    /// The signer's public key (PEM, as `omk key show` prints it)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The goal's directory, to check that its log still has the signed Merkle root (default:
    /// the goal of that id in the current repository, when it is there)
    #[arg(long, value_name = "DIR")]
    goal_dir: Option<PathBuf>,
}

/// Runs a `key` subcommand.
pub fn run_key(command: KeyCommand) -> Result<u8, Failure> {
    let path = key_path().map_err(keystore_failure)?;
    let (key, made) = match command {
        KeyCommand::Generate(args) => (
            generate_key(&path, args.force).map_err(keystore_failure)?,
            true,
        ),
        KeyCommand::Show => match read_key(&path).map_err(keystore_failure)? {
            Some(key) => (key, false),
            None => {
                return Err(Failure::hinted(
                    anyhow::anyhow!("there is no signing key at {}", path.display()),
                    format!("make one with `omk key generate`, or point {SIGNING_KEY_VAR} at one"),
                ))
            }
        },
    };
    let public = key.public();
    // The public key alone on stdout, so that `omk key show > public.pem` is a key file.
    if made {
        print_stderr(&format!(
            "made a signing key: {} (readable by you alone); from now on omk signs every goal's checkpoints with it",
            path.display()
        ));
    } else {
        print_stderr(&format!("signing key: {}", path.display()));
    }
    print_stderr(&format!("key id: {}", public.key_id()));
    print_stdout(&public.to_pem())?;
    if made {
        print_stderr("next: give the public key (`omk key show > public.pem`) to whoever checks your proofs: `omk verify-proof <envelope> --key public.pem`");
    }
    Ok(EXIT_OK)
}

fn keystore_failure(error: KeystoreError) -> Failure {
    let hint = match &error {
        KeystoreError::Exists { .. } => {
            "keep it (`omk key show` prints its public key), or pass --force to replace it"
                .to_owned()
        }
        KeystoreError::Exposed { path, .. } => format!("run `chmod 600 {path}`"),
        KeystoreError::NoPlace => format!("set {SIGNING_KEY_VAR} to the key file's path"),
        _ => format!("fix the file, or point {SIGNING_KEY_VAR} at another key"),
    };
    Failure::hinted(error, hint)
}

/// Runs `omk verify-proof`: exit 0 when the signature, the statement and (when at hand) the log
/// agree; 1 when one does not; 2 when a file cannot be read.
pub fn verify_proof(args: VerifyProofArgs) -> Result<u8, Failure> {
    let read = |path: &PathBuf, what: &str| {
        std::fs::read_to_string(path).map_err(|error| {
            Failure::hinted(
                anyhow::anyhow!("cannot read {}: {error}", path.display()),
                format!("pass {what}"),
            )
        })
    };
    let key = read_public_key(&args.key)?;
    let envelope_text = read(&args.envelope, "the envelope `omk goal proof --sign` wrote")?;
    let envelope: Envelope = serde_json::from_str(&envelope_text).map_err(|error| {
        Failure::hinted(
            anyhow::anyhow!(
                "{} is not a DSSE envelope: {error}",
                args.envelope.display()
            ),
            "pass the JSON `omk goal proof --format in-toto --sign` wrote",
        )
    })?;
    let refused = |detail: String| {
        print_stderr(&format!(
            "omk: {}: not verified: {detail}",
            args.envelope.display()
        ));
        Ok(EXIT_FINDINGS)
    };
    let mut attested = match check_attestation(&envelope, &key) {
        Ok(attested) => attested,
        Err(error) => return refused(error.to_string()),
    };
    if let Some(paths) = log_at_hand(&args, &attested.goal_id) {
        match check_log(&paths, &attested.tree) {
            Ok(check) => attested.log = Some(check),
            Err(error) => return refused(error.to_string()),
        }
    }
    let mut text = describe(&attested);
    match &attested.log {
        Some(check) if !check.matches(&attested.tree) => {
            print_stdout(&text)?;
            return refused(format!(
                "the goal's log {} does not have that root: its tree of {} has root {} (rewritten after the statement was signed, or another goal's log)",
                check.log,
                plural(check.root_there.size, "event"),
                check.root_there.root
            ));
        }
        Some(check) => text.push_str(&format!(
            "log: {} has that root at {} (it holds {} now)\n",
            check.log,
            plural(attested.tree.size, "event"),
            check.events
        )),
        None => text.push_str(
            "log: not checked (no goal directory at hand; pass --goal-dir to check that its log still has that root)\n",
        ),
    }
    print_stdout(&text)?;
    Ok(EXIT_OK)
}

fn describe(attested: &Attested) -> String {
    format!(
        "ok: signed by key {} over an in-toto statement\ngoal {}: {} (status {})\nsubjects: {}\nlog head: seq {} ({}), Merkle tree of {} with root {}\n",
        attested.key_id,
        attested.goal_id,
        if attested.ready { "ready" } else { "not ready" },
        attested.status,
        if attested.subjects.is_empty() {
            "none (no claimed tree yet)".to_owned()
        } else {
            attested.subjects.join(", ")
        },
        attested.head.seq,
        attested.head.hash,
        plural(attested.tree.size, "event"),
        attested.tree.root
    )
}

/// Returns the goal directory to check the log in: `--goal-dir`, else the goal the statement
/// names in the current repository's state directory, when it is there.
fn log_at_hand(args: &VerifyProofArgs, goal_id: &str) -> Option<LogPaths> {
    if let Some(dir) = &args.goal_dir {
        return Some(LogPaths::resolve(dir));
    }
    let context = Context::new(None, None).ok()?;
    let goal = context.state_dir.goal(goal_id);
    goal.paths().log().exists().then(|| goal.paths())
}
