//! Escaping for the report: every piece of text that comes from the log (prompts, agents'
//! claims, gate output, file names) passes through here before it reaches the page, so it is
//! shown as text and never read as markup.
//!
//! Owns only the character-level rules; what the page says is decided elsewhere. Must not
//! write a piece of text anywhere but inside an element's content or a quoted attribute value.

/// Appends `text` to `out` escaped for an element's content or a double-quoted attribute value.
///
/// Besides `& < > " '`, control characters (but newline and tab) and the bidirectional
/// overrides are written out as `\x1b` or `\u{202e}`: a terminal escape or a reversed line in
/// an agent's output reaches the reader as what it is, not as what it pretends to be.
pub fn push_escaped(out: &mut String, text: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Windows line ends are line ends, not a stray control character on every line.
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if is_bidi_control(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// Returns `text` escaped as [`push_escaped`] does.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    push_escaped(&mut out, text);
    out
}

/// Returns `text` cut to at most `max_chars` characters, an ellipsis marking the cut.
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars.saturating_sub(1)) {
        Some((at, _)) if text[at..].chars().count() > 1 => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

/// Returns whether `c` reorders the text around it (the embeddings, overrides and isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_shown_not_read() {
        assert_eq!(
            escape("<script>alert('x') && \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp;&amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn control_characters_and_reordering_are_written_out() {
        assert_eq!(
            escape("a\x1b[31mb\u{0}\r\nc\rd\u{202e}e\tf"),
            "a\\x1b[31mb\\x00\nc\\x0dd\\u{202e}e\tf"
        );
    }

    #[test]
    fn clipping_counts_characters_and_marks_the_cut() {
        assert_eq!(clip("slice-1", 7), "slice-1");
        assert_eq!(clip("slice-12", 7), "slice-…");
        assert_eq!(clip("ééééé", 3), "éé…");
        assert_eq!(clip("", 3), "");
    }
}
