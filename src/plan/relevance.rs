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
    /// Returns the score: 5 per keyword in the path, plus up to 3 per keyword in the text.
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

/// Returns the files relevant to `keywords`, best first (ties by path), at most `limit`.
pub fn rank_files(files: &[ScannedFile], keywords: &[String], limit: usize) -> Vec<RelevantFile> {
    let mut ranked: Vec<RelevantFile> = files
        .iter()
        .filter_map(|file| score(file, keywords))
        .collect();
    ranked.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.path.cmp(&b.path)));
    ranked.truncate(limit);
    ranked
}

fn score(file: &ScannedFile, keywords: &[String]) -> Option<RelevantFile> {
    let path = file.path.to_lowercase();
    let mut score = 0;
    let mut matched = Vec::new();
    for keyword in keywords {
        let in_path = path.contains(keyword.as_str());
        let in_text = file
            .content_hits
            .iter()
            .find(|(hit, _)| hit == keyword)
            .map_or(0, |(_, count)| (*count).min(3));
        if in_path || in_text > 0 {
            score += if in_path { 5 } else { 0 } + in_text;
            matched.push(keyword.clone());
        }
    }
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
    fn path_matches_outrank_text_matches_and_ties_sort_by_path() {
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
        assert_eq!(paths, ["src/list.rs", "src/a.rs", "src/other.rs"]);
    }
}
