//! The signing key on disk: where it lives, making one, and reading it back.
//!
//! The key lives outside every repository, so that a goal directory (which agents can reach)
//! never holds it: `$OMK_SIGNING_KEY` names the file, else `$XDG_CONFIG_HOME/omk/signing-key.pem`,
//! else `~/.config/omk/signing-key.pem`. Like ssh, a key file anyone else may read is refused.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::trust::{KeyError, SigningKey};

/// The environment variable naming the signing key's file.
pub const SIGNING_KEY_VAR: &str = "OMK_SIGNING_KEY";
/// The key's file name under the configuration directory.
pub const KEY_FILE_NAME: &str = "signing-key.pem";

/// The key could not be found, read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("no place for a signing key: set {SIGNING_KEY_VAR}, XDG_CONFIG_HOME or HOME")]
    NoPlace,
    #[error("{SIGNING_KEY_VAR} names {path}, which does not exist")]
    Missing { path: String },
    #[error("cannot read the signing key {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("the signing key {path} is not usable: {source}")]
    Invalid { path: String, source: KeyError },
    #[error("the signing key {path} can be read by others (mode {mode:03o}): it must be the owner's alone")]
    Exposed { path: String, mode: u32 },
    #[error("a signing key already exists at {path}")]
    Exists { path: String },
    #[error("cannot write the signing key {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("cannot draw random bytes for a key: {0}")]
    Random(String),
}

/// Returns where the signing key is, or would be made.
pub fn key_path() -> Result<PathBuf, KeystoreError> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(path) = var(SIGNING_KEY_VAR) {
        return Ok(PathBuf::from(path));
    }
    let config = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".config")))
        .ok_or(KeystoreError::NoPlace)?;
    Ok(config.join("omk").join(KEY_FILE_NAME))
}

/// Returns the signing key, or `None` when there is none at [`key_path`]. A key named by
/// `$OMK_SIGNING_KEY` must exist: the user asked for it, and heads must not go unsigned quietly.
pub fn load_signing_key() -> Result<Option<SigningKey>, KeystoreError> {
    let path = match key_path() {
        Ok(path) => path,
        Err(KeystoreError::NoPlace) => return Ok(None),
        Err(error) => return Err(error),
    };
    let key = read_key(&path)?;
    let named = std::env::var_os(SIGNING_KEY_VAR).is_some_and(|value| !value.is_empty());
    if key.is_none() && named {
        return Err(KeystoreError::Missing {
            path: path.display().to_string(),
        });
    }
    Ok(key)
}

/// Returns the key in `path`, or `None` when there is no such file.
pub fn read_key(path: &Path) -> Result<Option<SigningKey>, KeystoreError> {
    let shown = path.display().to_string();
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KeystoreError::Read {
                path: shown,
                source,
            })
        }
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeystoreError::Exposed { path: shown, mode });
    }
    let text = fs::read_to_string(path).map_err(|source| KeystoreError::Read {
        path: shown.clone(),
        source,
    })?;
    SigningKey::from_pem(&text)
        .map(Some)
        .map_err(|source| KeystoreError::Invalid {
            path: shown,
            source,
        })
}

/// Makes a new key from the operating system's randomness and writes it to `path` (mode 0600,
/// its directory made 0700 when missing), refusing to replace one unless `replace`.
pub fn generate_key(path: &Path, replace: bool) -> Result<SigningKey, KeystoreError> {
    let shown = path.display().to_string();
    if path.exists() && !replace {
        return Err(KeystoreError::Exists { path: shown });
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|error| KeystoreError::Random(error.to_string()))?;
    let key = SigningKey::from_seed(seed);
    let write_error = |source| KeystoreError::Write {
        path: shown.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_error)?;
    }
    // Written whole beside the target, then renamed: never half a key, never a moment readable
    // by others.
    let temporary = path.with_extension("pem.tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(write_error)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(key.to_pem().as_bytes()))
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&temporary, path))
        .map_err(write_error)?;
    Ok(key)
}
