//! Write sets: which paths a task may change. A pattern is a path, a directory prefix
//! (`dir/`), or a glob where `*` matches within one path segment and `**` any number of
//! segments (`src/**`, `**/*.rs`, `**`).

/// Returns whether `path` (relative, `/`-separated) is in one of `patterns`.
pub fn allows(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|pattern| matches(pattern, path))
}

/// Returns the paths of `changed` that no pattern of `write_set` allows, in their order.
pub fn outside(write_set: &[String], changed: &[String]) -> Vec<String> {
    changed
        .iter()
        .filter(|path| !allows(write_set, path))
        .cloned()
        .collect()
}

fn matches(pattern: &str, path: &str) -> bool {
    if let Some(directory) = pattern.strip_suffix('/') {
        return path.starts_with(&format!("{directory}/"));
    }
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    segments_match(&pattern, &path)
}

fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            segments_match(&pattern[1..], path)
                || (!path.is_empty() && segments_match(pattern, &path[1..]))
        }
        (Some(segment), Some(name)) => {
            segment_matches(segment.as_bytes(), name.as_bytes())
                && segments_match(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

fn segment_matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            segment_matches(&pattern[1..], name)
                || (!name.is_empty() && segment_matches(pattern, &name[1..]))
        }
        (Some(expected), Some(actual)) => {
            expected == actual && segment_matches(&pattern[1..], &name[1..])
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(patterns: &[&str]) -> Vec<String> {
        patterns
            .iter()
            .map(|pattern| (*pattern).to_owned())
            .collect()
    }

    #[test]
    fn paths_prefixes_and_globs() {
        let write_set = set(&["src/list.rs", "tests/", "docs/**/*.md", "*.toml"]);
        for allowed in [
            "src/list.rs",
            "tests/a.rs",
            "tests/deep/b.rs",
            "docs/x.md",
            "docs/a/b/c.md",
            "Cargo.toml",
        ] {
            assert!(allows(&write_set, allowed), "{allowed}");
        }
        for refused in [
            "src/main.rs",
            "src/list.rs.bak",
            "testsx/a.rs",
            "docs/x.txt",
            "sub/Cargo.toml",
        ] {
            assert!(!allows(&write_set, refused), "{refused}");
        }
        assert!(allows(&set(&["**"]), "any/path/at/all"));
        assert_eq!(
            outside(&set(&["src/**"]), &set(&["src/a.rs", "README.md"])),
            ["README.md"]
        );
    }
}
