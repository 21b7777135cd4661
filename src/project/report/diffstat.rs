//! Lines added and removed per file, counted from the text of a diff artifact
//! (`git diff --binary`), which is the only place the log keeps them: `changes_recorded`
//! holds a run's totals and its changed paths.
//!
//! Must not guess: a file whose section the text does not hold whole (a diff cut at the
//! report's limit) gets no count rather than a short one.

/// What one file's section of a diff adds and removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// The path after the change (the new name of a renamed file).
    pub path: String,
    pub added: u64,
    pub removed: u64,
    /// Whether the section is a binary patch, whose lines are not counted.
    pub binary: bool,
}

/// Returns each file's counts in `diff`, in the diff's order. When the text is not the whole
/// diff (`whole` is false), its last section may be cut short, so it is left out.
pub fn file_stats(diff: &str, whole: bool) -> Vec<FileStat> {
    let mut stats: Vec<FileStat> = Vec::new();
    let mut in_hunks = false;
    for line in diff.split('\n') {
        if let Some(names) = line.strip_prefix("diff --git ") {
            stats.push(FileStat {
                path: header_path(names).unwrap_or_default(),
                added: 0,
                removed: 0,
                binary: false,
            });
            in_hunks = false;
            continue;
        }
        let Some(stat) = stats.last_mut() else {
            continue;
        };
        if in_hunks {
            match line.as_bytes().first() {
                Some(b'+') => stat.added += 1,
                Some(b'-') => stat.removed += 1,
                _ => {}
            }
        } else if line.starts_with("@@") {
            in_hunks = true;
        } else if line == "GIT binary patch" || line.starts_with("Binary files ") {
            stat.binary = true;
        } else if let Some(path) = line
            .strip_prefix("+++ ")
            .and_then(|name| name_after(name, "b/"))
            .or_else(|| line.strip_prefix("rename to ").map(unquote))
        {
            // A renamed file's header names two paths; these lines say which one is new.
            stat.path = path;
        }
    }
    if !whole {
        stats.pop();
    }
    stats.retain(|stat| !stat.path.is_empty());
    stats
}

/// Returns the path a `diff --git a/X b/X` header names, when both sides are the same path
/// (spaces in X make the split ambiguous otherwise; a rename says its new name later).
fn header_path(names: &str) -> Option<String> {
    if names.starts_with('"') {
        let (first, _) = quoted_token(names)?;
        return first.strip_prefix("a/").map(str::to_owned);
    }
    let length = names.len().checked_sub(5)? / 2;
    let old = names.get(2..2 + length)?;
    let new = names.get(2 + length..)?;
    (names.starts_with("a/") && new.strip_prefix(" b/") == Some(old)).then(|| old.to_owned())
}

/// Returns the name in a `+++` line without its `b/` prefix, or `None` for `/dev/null`.
fn name_after(name: &str, prefix: &str) -> Option<String> {
    let name = unquote(name);
    name.strip_prefix(prefix).map(str::to_owned)
}

/// Returns `text` without git's C-style quotes, or as it is when it is not quoted.
fn unquote(text: &str) -> String {
    match quoted_token(text) {
        Some((name, _)) => name,
        None => text.to_owned(),
    }
}

/// Returns the leading `"…"` token of `text`, unescaped (`\n`, `\"`, octal bytes as UTF-8),
/// and the text after it.
fn quoted_token(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut bytes = Vec::new();
    let mut iter = body.bytes().enumerate();
    while let Some((at, byte)) = iter.next() {
        match byte {
            b'"' => {
                return Some((
                    String::from_utf8_lossy(&bytes).into_owned(),
                    &body[at + 1..],
                ))
            }
            b'\\' => {
                let (_, escaped) = iter.next()?;
                bytes.push(match escaped {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'v' => 0x0b,
                    b'0'..=b'7' => {
                        let (_, second) = iter.next()?;
                        let (_, third) = iter.next()?;
                        let digits = [escaped, second, third];
                        let octal = std::str::from_utf8(&digits).ok()?;
                        u8::from_str_radix(octal, 8).ok()?
                    }
                    other => other,
                });
            }
            other => bytes.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_FILES: &str = "diff --git a/calc.sh b/calc.sh\nindex 1..2 100755\n--- a/calc.sh\n+++ b/calc.sh\n@@ -1,3 +1,2 @@\n-add() { echo $(($1 - $2)); }\n--- not a header inside a hunk\n+add() { echo $(($1 + $2)); }\n context\ndiff --git a/my file.txt b/my file.txt\nnew file mode 100644\n--- /dev/null\n+++ b/my file.txt\n@@ -0,0 +1 @@\n+hello\n";

    fn stat(path: &str, added: u64, removed: u64) -> FileStat {
        FileStat {
            path: path.to_owned(),
            added,
            removed,
            binary: false,
        }
    }

    #[test]
    fn each_file_counts_its_own_hunk_lines() {
        assert_eq!(
            file_stats(TWO_FILES, true),
            vec![stat("calc.sh", 1, 2), stat("my file.txt", 1, 0)]
        );
    }

    #[test]
    fn a_diff_cut_short_leaves_its_last_file_uncounted() {
        let cut = &TWO_FILES[..TWO_FILES.len() - 3];
        assert_eq!(file_stats(cut, false), vec![stat("calc.sh", 1, 2)]);
    }

    #[test]
    fn quoted_renamed_and_binary_files_are_named_by_their_new_path() {
        let diff = "diff --git \"a/caf\\303\\251 \\\"x\\\"\" \"b/caf\\303\\251 \\\"x\\\"\"\n--- \"a/caf\\303\\251 \\\"x\\\"\"\n+++ \"b/caf\\303\\251 \\\"x\\\"\"\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/old name b/new name\nsimilarity index 90%\nrename from old name\nrename to new name\ndiff --git a/logo.png b/logo.png\nGIT binary patch\nliteral 3\nKcmZ?wbN~PW\n";
        let stats = file_stats(diff, true);
        assert_eq!(stats[0], stat("café \"x\"", 1, 1));
        assert_eq!(stats[1], stat("new name", 0, 0));
        assert_eq!(
            stats[2],
            FileStat {
                binary: true,
                ..stat("logo.png", 0, 0)
            }
        );
    }

    #[test]
    fn text_that_is_not_a_diff_counts_nothing() {
        assert_eq!(file_stats("+ a line\n- another\n", true), vec![]);
    }
}
