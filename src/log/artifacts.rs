//! The content-addressed artifact store beside the log, and the `artifact_recorded` payload.
//!
//! Artifacts (plans, transcripts, gate output, diffs) are files named by the plain BLAKE3 hash of
//! their bytes, so `b3sum` can check them. The log records each with an `artifact_recorded` event.
//! This is the one event kind the log layer reads, because verifying a log includes its artifacts.
//! Must not know what an artifact means: names and media types are the caller's.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::log::hash::{decode_hex32, encode_hex32, InvalidHex};

/// Returns the kind of the event that records an artifact.
pub const ARTIFACT_RECORDED: &str = "artifact_recorded";

/// The plain BLAKE3 hash of an artifact's bytes (not derive-key mode: `b3sum` gives the same).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Returns the hash of `bytes`.
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }

    /// Returns the lowercase hex form, which is also the artifact's file name.
    pub fn to_hex(&self) -> String {
        encode_hex32(&self.0)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl FromStr for ContentHash {
    type Err = InvalidHex;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        decode_hex32(text.as_bytes())
            .map(ContentHash)
            .ok_or(InvalidHex)
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom("expected 64 lowercase hex digits"))
    }
}

impl schemars::JsonSchema for ContentHash {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ContentHash".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "The plain BLAKE3 hash (as `b3sum` prints it) of an artifact's bytes, 64 lowercase hex digits."
        })
    }
}

/// The payload of `artifact_recorded`: which stored bytes an event refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactRef {
    /// Returns the caller's name for the artifact, such as `plan/technical-plan.md`.
    pub name: String,
    /// Returns the BLAKE3 hash of the bytes; the file is `artifacts/<hash>`.
    pub hash: ContentHash,
    /// Returns the size in bytes.
    pub size: u64,
    /// Returns the media type, such as `text/markdown`.
    pub media_type: String,
}

/// The store of artifacts in one directory.
#[derive(Clone, Debug)]
pub struct ArtifactStore {
    dir: PathBuf,
}

/// An artifact could not be stored or read.
#[derive(Debug, thiserror::Error)]
#[error("artifact store {dir}: {source}")]
pub struct ArtifactError {
    dir: String,
    #[source]
    source: io::Error,
}

impl ArtifactStore {
    /// Returns the store kept in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> ArtifactStore {
        ArtifactStore { dir: dir.into() }
    }

    /// Returns the path an artifact with this hash is stored at.
    pub fn path_of(&self, hash: &ContentHash) -> PathBuf {
        self.dir.join(hash.to_hex())
    }

    /// Stores `bytes` and returns the reference to record in the log.
    pub fn put(
        &self,
        name: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<ArtifactRef, ArtifactError> {
        let mut writer = self.writer()?;
        writer
            .write_all(bytes)
            .map_err(|source| self.error(source))?;
        writer.finish(name, media_type)
    }

    /// Returns a writer that hashes bytes as they stream in, for transcripts and long outputs.
    pub fn writer(&self) -> Result<ArtifactWriter, ArtifactError> {
        fs::create_dir_all(&self.dir).map_err(|source| self.error(source))?;
        let temp =
            tempfile::NamedTempFile::new_in(&self.dir).map_err(|source| self.error(source))?;
        Ok(ArtifactWriter {
            store: self.clone(),
            temp,
            hasher: blake3::Hasher::new(),
            size: 0,
        })
    }

    /// Returns what the stored file for `artifact` holds compared with what was recorded.
    pub fn check(&self, artifact: &ArtifactRef) -> Result<ArtifactCheck, ArtifactError> {
        let path = self.path_of(&artifact.hash);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(ArtifactCheck::Missing)
            }
            Err(source) => return Err(self.error(source)),
        };
        // Something else in the artifact's place (a directory, a device) holds no artifact.
        if !file
            .metadata()
            .map_err(|source| self.error(source))?
            .is_file()
        {
            return Ok(ArtifactCheck::Missing);
        }
        let (hash, size) = hash_reader(&mut file).map_err(|source| self.error(source))?;
        Ok(if hash != artifact.hash {
            ArtifactCheck::Altered { actual: hash }
        } else if size != artifact.size {
            ArtifactCheck::SizeMismatch { actual: size }
        } else {
            ArtifactCheck::Intact
        })
    }

    /// Returns `source` as an error of this store, naming its directory.
    pub fn error(&self, source: io::Error) -> ArtifactError {
        ArtifactError {
            dir: self.dir.display().to_string(),
            source,
        }
    }
}

/// What the store holds for a recorded artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactCheck {
    /// The file is there with the recorded hash and size.
    Intact,
    /// No file has the recorded hash as its name.
    Missing,
    /// The file's bytes no longer hash to its name.
    Altered { actual: ContentHash },
    /// The bytes match the hash but the event recorded another size.
    SizeMismatch { actual: u64 },
}

/// Streams bytes into the store; [`ArtifactWriter::finish`] names the file by their hash.
pub struct ArtifactWriter {
    store: ArtifactStore,
    temp: tempfile::NamedTempFile,
    hasher: blake3::Hasher,
    size: u64,
}

impl Write for ArtifactWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.temp.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

impl ArtifactWriter {
    /// Makes the bytes durable under their hash and returns the reference to record.
    pub fn finish(self, name: &str, media_type: &str) -> Result<ArtifactRef, ArtifactError> {
        let ArtifactWriter {
            store,
            temp,
            hasher,
            size,
        } = self;
        let hash = ContentHash(*hasher.finalize().as_bytes());
        store
            .persist(temp, &hash)
            .map_err(|source| store.error(source))?;
        Ok(ArtifactRef {
            name: name.to_owned(),
            hash,
            size,
            media_type: media_type.to_owned(),
        })
    }
}

impl ArtifactStore {
    fn persist(&self, mut temp: tempfile::NamedTempFile, hash: &ContentHash) -> io::Result<()> {
        temp.flush()?;
        temp.as_file().sync_data()?;
        let final_path = self.path_of(hash);
        // Same bytes, same name: an existing file already holds this content.
        if !final_path.exists() {
            temp.persist(&final_path).map_err(|error| error.error)?;
            crate::log::io::sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

fn hash_reader(reader: &mut impl Read) -> io::Result<(ContentHash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let size = io::copy(reader, &mut hasher)?;
    Ok((ContentHash(*hasher.finalize().as_bytes()), size))
}
