//! Which repository files matter to a goal: keywords from the prompt, and a ranking of the
//! files a cheap scan found them in.
//!
//! The scan itself (listing tracked files, counting keyword hits) is the shell's; this module
//! decides what to look for and how to rank what was found, deterministically.

use serde::{Deserialize, Serialize};

use crate::plan::oracle::code_tokens;

/// Words too common to say anything about where a change goes.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "from", "into", "when", "then", "than", "make",
    "makes", "should", "would", "could", "will", "not", "are", "was", "were", "has", "have", "its",
    "our", "your", "their", "all", "any", "each", "every", "also", "only", "but", "use", "using",
    "add", "fix", "new", "more", "less", "some", "can", "does", "doesn", "don", "it's", "there",
    "where", "which", "what", "who", "how", "why", "after", "before", "instead", "like", "just",
    "very", "too", "out", "way", "sure", "them", "they", "you", "get", "set", "via",
];

/// One file the scan looked at, with how often each keyword occurs in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFile {
    /// Returns the path relative to the repository root, with `/` separators.
    pub path: String,
    /// Returns (keyword, occurrences in the file's text) for each keyword that occurs.
    pub content_hits: Vec<(String, u32)>,
}

/// A file ranked as relevant to a goal, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelevantFile {
    /// Returns the path relative to the repository root.
    pub path: String,
    /// Returns the score in tenths: per keyword, 5 in the path plus 1 + ln(occurrences) in the
    /// text, times the keyword's rarity; doubled for source code.
    pub score: u32,
    /// Returns the keywords that matched.
    pub keywords: Vec<String>,
}

/// Returns the keywords of `text` worth looking for, in first-seen order.
pub fn keywords(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut push = |word: String| {
        if word.len() >= 3 && !STOP_WORDS.contains(&word.as_str()) && !found.contains(&word) {
            found.push(word);
        }
    };
    for token in code_tokens(text) {
        push(token.trim_start_matches('-').to_lowercase());
    }
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        push(word.to_lowercase());
    }
    found
}

/// Path fragments of files that are data, vendored or generated: never where a change goes.
const SKIPPED_PATHS: &[&str] = &[
    "fixtures/",
    "testdata/",
    "test-data/",
    "vendor/",
    "third_party/",
    "node_modules/",
    "dist/",
    "build/",
    "target/",
    "__snapshots__/",
];
/// File names that are generated lock files.
const LOCK_FILES: &[&str] = &[
    "cargo.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "go.sum",
    "gemfile.lock",
    "composer.lock",
];
/// Extensions of source code, which count double: a change lands in code more often than in data.
const CODE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "jsx", "ts", "tsx", "go", "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs",
    "rb", "php", "swift", "scala", "sh", "ex", "exs", "clj", "hs", "ml", "lua", "dart", "vue",
    "svelte",
];

/// Returns the files relevant to `keywords`, best first (ties by path), at most `limit`.
///
/// Each file scores, per keyword, 5 when the keyword is in its path plus 1 + ln(occurrences)
/// for the text; each keyword's score is weighted by its rarity across the files
/// (inverse document frequency), so words found everywhere (the project's name) say little;
/// source code counts double; lock files, fixtures and vendored or built files are skipped.
pub fn rank_files(files: &[ScannedFile], keywords: &[String], limit: usize) -> Vec<RelevantFile> {
    let candidates: Vec<&ScannedFile> = files
        .iter()
        .filter(|file| is_candidate(&file.path))
        .collect();
    let weights: Vec<f64> = keywords
        .iter()
        .map(|keyword| {
            let documents = candidates
                .iter()
                .filter(|file| mentions(file, keyword))
                .count();
            // BM25's inverse document frequency: small for a word in every file, never zero, so
            // a repository of one file still ranks it.
            let (total, documents) = (candidates.len() as f64, documents as f64);
            (1.0 + (total - documents + 0.5) / (documents + 0.5)).ln()
        })
        .collect();
    let mut ranked: Vec<RelevantFile> = candidates
        .into_iter()
        .filter_map(|file| score(file, keywords, &weights))
        .collect();
    ranked.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.path.cmp(&b.path)));
    ranked.truncate(limit);
    ranked
}

fn is_candidate(path: &str) -> bool {
    let lowered = path.to_lowercase();
    let name = lowered.rsplit('/').next().unwrap_or(&lowered);
    let nested = format!("/{lowered}");
    !LOCK_FILES.contains(&name)
        && !SKIPPED_PATHS
            .iter()
            .any(|skipped| nested.contains(&format!("/{skipped}")))
}

fn mentions(file: &ScannedFile, keyword: &str) -> bool {
    file.path.to_lowercase().contains(keyword)
        || file.content_hits.iter().any(|(hit, _)| hit == keyword)
}

fn score(file: &ScannedFile, keywords: &[String], weights: &[f64]) -> Option<RelevantFile> {
    let path = file.path.to_lowercase();
    let mut total = 0.0;
    let mut matched = Vec::new();
    for (keyword, weight) in keywords.iter().zip(weights) {
        let in_path = path.contains(keyword.as_str());
        let count = file
            .content_hits
            .iter()
            .find(|(hit, _)| hit == keyword)
            .map_or(0, |(_, count)| *count);
        // Occurrences count logarithmically: the tenth mention says less than the first.
        let in_text = if count == 0 {
            0.0
        } else {
            1.0 + f64::from(count).ln()
        };
        if in_path || count > 0 {
            total += (if in_path { 5.0 } else { 0.0 } + in_text) * weight;
            matched.push(keyword.clone());
        }
    }
    let is_code = path
        .rsplit_once('.')
        .is_some_and(|(_, extension)| CODE_EXTENSIONS.contains(&extension));
    if is_code {
        total *= 2.0;
    }
    // Scores are stored as integers (tenths) so that plans print and compare exactly.
    let score = (total * 10.0).round() as u32;
    (score > 0).then(|| RelevantFile {
        path: file.path.clone(),
        score,
        keywords: matched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_skip_stop_words_and_keep_code() {
        assert_eq!(
            keywords("Add a --json flag to the list command"),
            ["json", "flag", "list", "command"]
        );
    }

    #[test]
    fn path_matches_outrank_text_matches_and_more_mentions_rank_higher() {
        let files = vec![
            ScannedFile {
                path: "src/other.rs".into(),
                content_hits: vec![("list".into(), 9)],
            },
            ScannedFile {
                path: "src/list.rs".into(),
                content_hits: vec![],
            },
            ScannedFile {
                path: "src/b.rs".into(),
                content_hits: vec![("list".into(), 3)],
            },
            ScannedFile {
                path: "src/a.rs".into(),
                content_hits: vec![("list".into(), 3)],
            },
            ScannedFile {
                path: "README.md".into(),
                content_hits: vec![],
            },
        ];
        let ranked = rank_files(&files, &["list".to_owned()], 10);
        let paths: Vec<&str> = ranked.iter().map(|file| file.path.as_str()).collect();
        assert_eq!(
            paths,
            ["src/list.rs", "src/other.rs", "src/a.rs", "src/b.rs"]
        );
    }

    #[test]
    fn common_words_weigh_little_and_data_files_are_skipped() {
        let file = |path: &str, hits: &[(&str, u32)]| ScannedFile {
            path: path.to_owned(),
            content_hits: hits.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
        };
        let files = vec![
            file("src/budget.rs", &[("omk", 3), ("budget", 3)]),
            file("src/log.rs", &[("omk", 3)]),
            file("src/state.rs", &[("omk", 3)]),
            file("README.md", &[("omk", 3), ("budget", 1)]),
            file("fixtures/goals/show.json", &[("omk", 3), ("budget", 3)]),
            file("Cargo.lock", &[("budget", 3)]),
        ];
        let ranked = rank_files(&files, &["omk".to_owned(), "budget".to_owned()], 10);
        let paths: Vec<&str> = ranked.iter().map(|file| file.path.as_str()).collect();
        assert_eq!(
            paths,
            ["src/budget.rs", "README.md", "src/log.rs", "src/state.rs"],
            "{ranked:?}"
        );
        assert!(
            ranked[2].score * 5 < ranked[0].score,
            "a word in every file weighs little: {ranked:?}"
        );
        assert_eq!(ranked[0].keywords, ["omk", "budget"]);
    }
}
