//! A print of the user's own checkout, so that omk can tell whether an agent changed it.
//!
//! Agents work in worktrees under the goal's directory and must never touch the repository the
//! user works in. A print is the checkout's `HEAD` and branch, and, for every path git reports
//! as changed or untracked, its status letters and the hash of its content. Two prints differ
//! exactly where the checkout changed. Must not change the checkout: it only reads.

use std::collections::BTreeMap;
use std::path::Path;

use crate::log::artifacts::ContentHash;
use crate::shell::git::{nul_separated, run_git, GitError};

/// What the user's checkout looks like at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutPrint {
    /// The branch `HEAD` names (empty when detached) and the commit it points at.
    head: (String, String),
    /// Every changed or untracked path: git's two status letters and the content's hash
    /// (`None` for a deleted file or a directory).
    paths: BTreeMap<String, (String, Option<ContentHash>)>,
}

/// Returns the print of the checkout at `root`.
pub fn checkout_print(root: &Path) -> Result<CheckoutPrint, GitError> {
    let text = |args: &[&str]| {
        run_git(root, args).map(|out| String::from_utf8_lossy(&out).trim().to_owned())
    };
    let branch = text(&["symbolic-ref", "--quiet", "HEAD"]).unwrap_or_default();
    let commit = text(&["rev-parse", "--verify", "--quiet", "HEAD"]).unwrap_or_default();
    // No optional locks: a print must never make the user's own git wait or fail.
    let status = run_git(
        root,
        &[
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
        ],
    )?;
    let paths = nul_separated(&status)
        .into_iter()
        .filter(|record| record.len() > 3)
        .map(|record| {
            let (letters, path) = record.split_at(3);
            let content = content_print(&root.join(path));
            (path.to_owned(), (letters.trim_end().to_owned(), content))
        })
        .collect();
    Ok(CheckoutPrint {
        head: (branch, commit),
        paths,
    })
}

/// Files larger than this are printed by size and modification time, not read.
const LARGEST_HASHED: u64 = 16 << 20;

/// Returns the hash of a file's content, or of its size and modification time when it is
/// large; `None` for a directory or a file that is gone.
fn content_print(path: &Path) -> Option<ContentHash> {
    let meta = std::fs::metadata(path).ok().filter(|meta| meta.is_file())?;
    if meta.len() > LARGEST_HASHED {
        let modified = meta.modified().ok()?;
        return Some(ContentHash::of(
            format!("{}:{modified:?}", meta.len()).as_bytes(),
        ));
    }
    std::fs::read(path)
        .ok()
        .map(|bytes| ContentHash::of(&bytes))
}

impl CheckoutPrint {
    /// Returns what differs between this print and `later`, one phrase each: `HEAD moved`,
    /// the branch switched, and every path whose status or content changed.
    pub fn changes_to(&self, later: &CheckoutPrint) -> Vec<String> {
        let mut changes = Vec::new();
        if self.head.0 != later.head.0 {
            changes.push(format!(
                "the checked-out branch changed from `{}` to `{}`",
                self.head.0, later.head.0
            ));
        } else if self.head.1 != later.head.1 {
            changes.push(format!("`{}` moved to another commit", self.head.0));
        }
        let paths: std::collections::BTreeSet<&String> =
            self.paths.keys().chain(later.paths.keys()).collect();
        changes.extend(
            paths
                .into_iter()
                .filter(|path| self.paths.get(*path) != later.paths.get(*path))
                .map(|path| path.to_string()),
        );
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::git::committed_repo;

    #[test]
    fn a_print_changes_exactly_where_the_checkout_changed() {
        let dir = committed_repo(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
        let root = dir.path();
        let git = |args: &[&str]| run_git(root, args).unwrap();
        std::fs::write(root.join("a.txt"), "the user's own edit\n").unwrap();
        let before = checkout_print(root).unwrap();
        assert_eq!(before, checkout_print(root).unwrap(), "a print is stable");
        assert!(before.changes_to(&checkout_print(root).unwrap()).is_empty());

        std::fs::write(root.join("a.txt"), "edited again\n").unwrap();
        std::fs::write(root.join("new file.txt"), "new\n").unwrap();
        std::fs::remove_file(root.join("b.txt")).unwrap();
        let after = checkout_print(root).unwrap();
        assert_eq!(
            before.changes_to(&after),
            ["a.txt", "b.txt", "new file.txt"]
        );

        git(&["checkout", "-q", "-b", "elsewhere"]);
        let switched = checkout_print(root).unwrap();
        assert_eq!(
            after.changes_to(&switched),
            ["the checked-out branch changed from `refs/heads/main` to `refs/heads/elsewhere`"]
        );
    }
}
