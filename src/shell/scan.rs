//! The cheap repository scan behind the technical plan: which tracked files mention the goal's keywords.
//!
//! Deterministic: files in sorted order, bounded work (file count and size caps), no
//! network. Binary files are skipped. Outside git, the directory tree is walked instead.

use std::fs;
use std::io::Read;
use std::path::Path;

use crate::plan::relevance::ScannedFile;
use crate::shell::git::tracked_files;

/// The most files the scan reads.
pub const MAX_FILES: usize = 20_000;
/// The most bytes read from one file.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// The most bytes read in all; past it, files are ranked by their paths alone.
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Directories never walked outside git.
const SKIPPED_DIRS: [&str; 6] = [".git", ".omk", "target", "node_modules", ".venv", "dist"];

/// Returns, for each file of the repository at `root`, how often each keyword occurs in it.
pub fn scan_repository(root: &Path, keywords: &[String]) -> Vec<ScannedFile> {
    let files = tracked_files(root).unwrap_or_else(|| walk(root));
    let mut budget = MAX_TOTAL_BYTES;
    files
        .into_iter()
        .take(MAX_FILES)
        .map(|path| {
            let content_hits = read_text(&root.join(&path), &mut budget)
                .map(|text| count_keywords(&text, keywords))
                .unwrap_or_default();
            ScannedFile { path, content_hits }
        })
        .collect()
}

/// Returns the lowercased text of the file, reading at most what is left of `budget`.
fn read_text(path: &Path, budget: &mut u64) -> Option<String> {
    let mut bytes = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(MAX_FILE_BYTES.min(*budget))
        .read_to_end(&mut bytes)
        .ok()?;
    *budget = budget.saturating_sub(bytes.len() as u64);
    if bytes.contains(&0) {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).to_lowercase())
}

fn count_keywords(text: &str, keywords: &[String]) -> Vec<(String, u32)> {
    keywords
        .iter()
        .filter_map(|keyword| {
            let count = text.matches(keyword.as_str()).count();
            (count > 0).then(|| (keyword.clone(), u32::try_from(count).unwrap_or(u32::MAX)))
        })
        .collect()
}

/// Returns the files under `root`, sorted, skipping build and state directories.
fn walk(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && !SKIPPED_DIRS.iter().any(|skipped| name == *skipped) {
                pending.push(path);
            } else if kind.is_file() {
                if let Ok(relative) = path.strip_prefix(root) {
                    files.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
            if files.len() >= MAX_FILES {
                break;
            }
        }
    }
    files.sort();
    files
}
