//! The artifacts on the page: each one the log records, once, openable in place with its
//! first bytes as text (a diff's lines marked for colour), or a note saying why it is not
//! shown (cut at the page's limit, binary, missing, altered) and the command that prints it.
//!
//! Must not show bytes that were not checked against their hash: the caller reads them.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::log::artifacts::ContentHash;
use crate::project::report::html::{escape, push_escaped};
use crate::project::report::{
    artifact_anchor, ArtifactContent, ReportInput, ARTIFACTS_SHOWN_TOTAL, ARTIFACT_SHOWN_BYTES,
};
use crate::project::show::size_in_words;

/// Writes the artifacts section: every artifact the log records, in log order.
pub(super) fn artifacts_section(out: &mut String, input: &ReportInput<'_>) {
    let goal_id = &input.state.goal_id;
    let mut shown: BTreeSet<&ContentHash> = BTreeSet::new();
    let _ = writeln!(
        out,
        "<section class=\"card\" id=\"artifacts\">\n<h2>Artifacts <span class=\"count\">{}</span></h2>\n<p class=\"caption\">What the run stored: plans, prompts, transcripts, diffs, gate output. Each opens in place, its first {} at most; <code>omk artifact show &lt;hash&gt; --goal {}</code> prints any of them whole.</p>",
        input.state.artifacts.len(),
        size_in_words(ARTIFACT_SHOWN_BYTES),
        escape(goal_id)
    );
    for recorded in &input.state.artifacts {
        let artifact = &recorded.artifact;
        // The same bytes recorded twice (a gate's unchanged output) are shown once.
        if !shown.insert(&artifact.hash) {
            continue;
        }
        let hex = artifact.hash.to_hex();
        let _ = write!(
            out,
            "<details class=\"artifact\"><summary><code>{}</code> <span class=\"muted small\">{} · {} · {}</span></summary><div class=\"artifact-body\" id=\"{}\">",
            escape(&artifact.name),
            escape(&artifact.media_type),
            size_in_words(artifact.size),
            &hex[..12],
            artifact_anchor(&artifact.hash)
        );
        let command = format!(
            "<code>omk artifact show {} --goal {}</code>",
            &hex[..16],
            escape(goal_id)
        );
        match input.artifacts.get(&artifact.hash) {
            Some(ArtifactContent::Read { bytes, .. }) if bytes.is_empty() => {
                out.push_str("<p class=\"note\">Empty.</p>");
            }
            Some(ArtifactContent::Read { bytes, whole }) => match excerpt(bytes, *whole) {
                Some(text) => {
                    if !*whole {
                        let _ = write!(
                            out,
                            "<p class=\"note\">The first {} of {} are shown; {command} prints it whole.</p>",
                            size_in_words(bytes.len() as u64),
                            size_in_words(artifact.size)
                        );
                    }
                    let is_diff = artifact.media_type == "text/x-diff";
                    let _ = write!(out, "<pre>{}</pre>", artifact_text(&text, is_diff));
                }
                None => {
                    let _ = write!(
                        out,
                        "<p class=\"note\">Binary content, not shown; {command} prints it.</p>"
                    );
                }
            },
            Some(ArtifactContent::OverTotal) => {
                let _ = write!(
                    out,
                    "<p class=\"note\">Not on the page: it holds at most {} of artifacts in all; {command} prints it.</p>",
                    size_in_words(ARTIFACTS_SHOWN_TOTAL)
                );
            }
            Some(ArtifactContent::Missing) | None => {
                let _ = write!(out, "<p class=\"note bad\">Missing from the goal's artifact store; <code>omk replay {} --verify</code> says what else is.</p>", escape(goal_id));
            }
            Some(ArtifactContent::Altered { detail }) => {
                let _ = write!(
                    out,
                    "<p class=\"note bad\">Altered on disk ({}): not shown, since it is not what the log recorded.</p>",
                    escape(detail)
                );
            }
            Some(ArtifactContent::Unreadable { detail }) => {
                let _ = write!(
                    out,
                    "<p class=\"note bad\">Could not be read: {}</p>",
                    escape(detail)
                );
            }
        }
        out.push_str("</div></details>\n");
    }
    out.push_str("</section>\n");
}

/// Returns an artifact's text escaped for a `<pre>`; in a diff, each added, removed and hunk
/// line is marked so the stylesheet can colour it.
fn artifact_text(text: &str, is_diff: bool) -> String {
    if !is_diff {
        return escape(text);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let class = match line.as_bytes().first() {
            _ if line.starts_with("+++ ") || line.starts_with("--- ") => None,
            Some(b'+') => Some("ins"),
            Some(b'-') => Some("rem"),
            Some(b'@') if line.starts_with("@@") => Some("hunk"),
            _ if line.starts_with("diff --git ") => Some("file"),
            _ => None,
        };
        match class {
            Some(class) => {
                let _ = write!(out, "<span class=\"{class}\">{}</span>", escape(line));
            }
            None => push_escaped(&mut out, line),
        }
    }
    out
}

/// Returns the text of an artifact's first bytes, or `None` when they are binary. A character
/// cut in two at the end of an excerpt is left out rather than shown broken.
fn excerpt(bytes: &[u8], whole: bool) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    let mut text = String::with_capacity(bytes.len());
    let mut chunks = bytes.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        text.push_str(chunk.valid());
        let cut_at_the_end = !whole && chunks.peek().is_none();
        if !chunk.invalid().is_empty() && !cut_at_the_end {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_by_the_limit_is_left_out_and_one_broken_inside_is_marked() {
        assert_eq!(excerpt(b"caf\xc3\xa9", true).as_deref(), Some("café"));
        assert_eq!(excerpt(b"caf\xc3", false).as_deref(), Some("caf"));
        assert_eq!(excerpt(b"caf\xc3", true).as_deref(), Some("caf\u{fffd}"));
        assert_eq!(excerpt(b"a\xffb", false).as_deref(), Some("a\u{fffd}b"));
        assert_eq!(excerpt(b"PNG\0\x01", true), None);
    }

    #[test]
    fn a_diffs_lines_are_marked_and_escaped() {
        let diff = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-<a>\n+<b>\n ctx";
        assert_eq!(
            artifact_text(diff, true),
            "<span class=\"file\">diff --git a/x b/x</span>\n--- a/x\n+++ b/x\n<span class=\"hunk\">@@ -1 +1 @@</span>\n<span class=\"rem\">-&lt;a&gt;</span>\n<span class=\"ins\">+&lt;b&gt;</span>\n ctx"
        );
        assert_eq!(artifact_text("+<b>", false), "+&lt;b&gt;");
    }
}
