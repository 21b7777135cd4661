//! Files kept in git itself: a directory's files stored as a tree, committed under a ref of
//! their own (never a branch, never the user's checkout), and read back out of such a tree.
//!
//! This is how goals travel between clones with nothing but git: the ref is pushed and fetched
//! like any other. Must not decide which files belong in the tree: the caller names them.

use std::fs;
use std::path::Path;

use crate::shell::git::{git_text, nul_separated, run_git, run_git_with_input, GitError};

/// What storing a directory under a ref did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The commit the ref now names.
    pub commit: String,
    /// Whether a new commit was made (false: the ref already held exactly these files).
    pub changed: bool,
}

/// Stores the files `relative` (paths under `dir`, with at most one directory level, such as
/// `artifacts/<hash>`) as a tree, committed on top of what `reference` named before, and
/// points `reference` at it.
pub fn store_files(
    repo_root: &Path,
    dir: &Path,
    relative: &[String],
    reference: &str,
    message: &str,
) -> Result<Stored, GitError> {
    let paths: String = relative
        .iter()
        .map(|path| format!("{}\n", dir.join(path).display()))
        .collect();
    let blobs = git_text_lines(&run_git_with_input(
        repo_root,
        &["hash-object", "-w", "--stdin-paths"],
        paths.into_bytes(),
    )?);
    let mut top = Vec::new();
    let mut folders: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for (path, blob) in relative.iter().zip(&blobs) {
        match path.split_once('/') {
            Some((folder, name)) => folders.entry(folder).or_default().push((name, blob)),
            None => top.push(format!("100644 blob {blob}\t{path}\0")),
        }
    }
    for (folder, files) in folders {
        let entries: String = files
            .iter()
            .map(|(name, blob)| format!("100644 blob {blob}\t{name}\0"))
            .collect();
        let tree = make_tree(repo_root, entries)?;
        top.push(format!("040000 tree {tree}\t{folder}\0"));
    }
    let tree = make_tree(repo_root, top.concat())?;
    let previous = git_text(repo_root, &["rev-parse", "--verify", "--quiet", reference]).ok();
    if let Some(previous) = &previous {
        if git_text(repo_root, &["rev-parse", &format!("{previous}^{{tree}}")])? == tree {
            return Ok(Stored {
                commit: previous.clone(),
                changed: false,
            });
        }
    }
    let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
    if let Some(previous) = &previous {
        args.extend(["-p", previous.as_str()]);
    }
    let commit = git_text(repo_root, &args)?;
    let mut update = vec!["update-ref", reference, commit.as_str()];
    if let Some(previous) = &previous {
        update.push(previous.as_str());
    }
    run_git(repo_root, &update)?;
    Ok(Stored {
        commit,
        changed: true,
    })
}

fn make_tree(repo_root: &Path, entries: String) -> Result<String, GitError> {
    let out = run_git_with_input(repo_root, &["mktree", "-z"], entries.into_bytes())?;
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}

fn git_text_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Writes every file of the tree of `revision` under `into` (created), and returns their
/// paths relative to it. Only plain files are written, each below `into`.
pub fn read_files(repo_root: &Path, revision: &str, into: &Path) -> Result<Vec<String>, GitError> {
    let listing = nul_separated(&run_git(repo_root, &["ls-tree", "-r", "-z", revision])?);
    let mut files = Vec::new();
    for entry in listing {
        // `<mode> <type> <object>\t<path>`
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split(' ');
        let (Some(mode), Some("blob"), Some(object)) = (meta.next(), meta.next(), meta.next())
        else {
            continue;
        };
        let safe = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if mode != "100644" || !safe {
            continue;
        }
        files.push((path.to_owned(), object.to_owned()));
    }
    let objects: String = files
        .iter()
        .map(|(_, object)| format!("{object}\n"))
        .collect();
    let batch = run_git_with_input(repo_root, &["cat-file", "--batch"], objects.into_bytes())?;
    let mut rest = batch.as_slice();
    let mut written = Vec::new();
    for (path, object) in &files {
        // `<object> blob <size>\n<bytes>\n`
        let header_end = rest
            .iter()
            .position(|byte| *byte == b'\n')
            .unwrap_or(rest.len());
        let header = String::from_utf8_lossy(&rest[..header_end]).into_owned();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|size| size.parse().ok())
            .filter(|_| header.starts_with(object.as_str()))
            .ok_or_else(|| GitError {
                command: "cat-file --batch".to_owned(),
                dir: repo_root.display().to_string(),
                detail: format!("unexpected answer for {object}: {header}"),
            })?;
        let body_start = header_end + 1;
        let body = rest.get(body_start..body_start + size).unwrap_or_default();
        let target = into.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|error| io_failure(&target, error))?;
        }
        fs::write(&target, body).map_err(|error| io_failure(&target, error))?;
        written.push(path.clone());
        rest = rest.get(body_start + size + 1..).unwrap_or_default();
    }
    Ok(written)
}

fn io_failure(path: &Path, error: std::io::Error) -> GitError {
    GitError {
        command: "cat-file --batch".to_owned(),
        dir: path.display().to_string(),
        detail: format!("cannot write {}: {error}", path.display()),
    }
}
