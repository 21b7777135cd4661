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

/// How strictly changes are held to the planned write sets (`[scope]` in `omk.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopePolicy {
    /// Whether every change outside a slice's write set fails it (no widening).
    pub strict: bool,
    /// Paths no slice may change unless its write set names them (CI workflows, omk.toml).
    pub protected: Vec<String>,
}

impl Default for ScopePolicy {
    fn default() -> ScopePolicy {
        ScopePolicy {
            strict: false,
            protected: vec![
                ".github/workflows/**".to_owned(),
                ".gitlab-ci.yml".to_owned(),
                "omk.toml".to_owned(),
            ],
        }
    }
}

/// Where a slice's changes fall against the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeCheck {
    /// Changed files outside the slice's write set that no other slice claims and no
    /// protected path covers: allowed, and shown to the integrator.
    pub widened: Vec<String>,
    /// Changed files another slice claims, or protected ones (or, under a strict policy, any
    /// outside the write set): the slice fails naming them.
    pub violations: Vec<String>,
}

/// Checks `changed` against a slice's `write_set`, the write sets `others` claim, and
/// `policy`. A write set of `**` (nothing was known when planning) claims nothing from others.
pub fn check_scope(
    write_set: &[String],
    others: &[&[String]],
    changed: &[String],
    policy: &ScopePolicy,
) -> ScopeCheck {
    let mut check = ScopeCheck::default();
    let anywhere = write_set.iter().any(|pattern| pattern == "**");
    for path in changed {
        // Named by the write set (not merely under its `**`): within scope, protected or not.
        let named = write_set
            .iter()
            .any(|pattern| pattern != "**" && matches(pattern, path));
        if named {
            continue;
        }
        if allows(&policy.protected, path) {
            check.violations.push(path.clone());
            continue;
        }
        if anywhere {
            continue;
        }
        let claimed = others
            .iter()
            .any(|other| !other.iter().any(|pattern| pattern == "**") && allows(other, path));
        if policy.strict || claimed {
            check.violations.push(path.clone());
        } else {
            check.widened.push(path.clone());
        }
    }
    check
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

    #[test]
    fn a_change_outside_the_plan_is_widened_unless_another_slice_or_a_protected_path_owns_it() {
        let own = vec!["src/lib.rs".to_owned()];
        let other = vec!["src/cli.rs".to_owned()];
        let anything = vec!["**".to_owned()];
        let changed: Vec<String> = [
            "src/lib.rs",
            "src/parse.rs",
            "tests/parse.rs",
            "src/cli.rs",
            ".github/workflows/ci.yml",
        ]
        .iter()
        .map(|path| (*path).to_owned())
        .collect();
        let check = check_scope(
            &own,
            &[&other, &anything],
            &changed,
            &ScopePolicy::default(),
        );
        assert_eq!(check.widened, ["src/parse.rs", "tests/parse.rs"]);
        assert_eq!(check.violations, ["src/cli.rs", ".github/workflows/ci.yml"]);
        let strict = ScopePolicy {
            strict: true,
            ..ScopePolicy::default()
        };
        let check = check_scope(&own, &[], &changed, &strict);
        assert!(check.widened.is_empty());
        assert_eq!(check.violations.len(), 4);
        // A write set of `**` (nothing was known) still may not touch a protected path.
        let check = check_scope(&anything, &[], &changed, &ScopePolicy::default());
        assert_eq!(check.violations, [".github/workflows/ci.yml"]);
        assert!(check.widened.is_empty());
    }

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
