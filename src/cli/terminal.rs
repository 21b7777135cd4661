//! What the output's reader is: a terminal (colour, a width to fit) or a file, pipe or script.
//!
//! Colour paints statuses and verdicts only, after control characters in the text have been
//! made visible, and never reaches JSON, files or pipes unless asked for (`--color always`,
//! `CLICOLOR_FORCE`). `NO_COLOR` (<https://no-color.org>) turns it off for `auto`.

use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::ValueEnum;

use crate::state::GoalStatus;

/// When to colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE colours pipes too).
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether statuses are coloured, and whether documents are (a proof is often redirected to
/// a file: only a terminal or `--color always` colours it, never `CLICOLOR_FORCE` alone).
static COLOUR: OnceLock<(bool, bool)> = OnceLock::new();

/// Decides, once per process, whether standard output is coloured.
pub(crate) fn init_colour(choice: ColorChoice) {
    let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    let forced =
        std::env::var_os("CLICOLOR_FORCE").is_some_and(|value| value != "0" && !value.is_empty());
    let colour = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto if forced => true,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
        }
    };
    let documents = choice == ColorChoice::Always || (colour && std::io::stdout().is_terminal());
    let _ = COLOUR.set((colour, documents));
}

fn colour() -> bool {
    COLOUR.get().is_some_and(|(colour, _)| *colour)
}

fn colour_documents() -> bool {
    COLOUR.get().is_some_and(|(_, documents)| *documents)
}

/// The SGR code a status is painted with: green for ready, red for an ending that failed,
/// yellow for one held for a person or a limit, dim for cancelled; live statuses stay plain.
fn status_code(status: GoalStatus) -> Option<&'static str> {
    match status {
        GoalStatus::Ready => Some("32"),
        GoalStatus::NotReady | GoalStatus::FailedInfra => Some("31"),
        GoalStatus::BlockedOnHuman
        | GoalStatus::BlockedOnExternal
        | GoalStatus::NeedsMoreBudget
        | GoalStatus::Paused => Some("33"),
        GoalStatus::Cancelled => Some("2"),
        _ => None,
    }
}

/// Returns `line` with the first whole-word `status` painted, when colour is on.
pub(crate) fn paint_status(line: &str, status: GoalStatus) -> String {
    match status_code(status) {
        Some(code) if colour() => paint_word(line, status.name(), code),
        _ => line.to_owned(),
    }
}

/// Returns `text` with each table row's status painted: line `first + index` with
/// `statuses[index]`; other lines unchanged.
pub(crate) fn paint_rows(text: &str, first: usize, statuses: &[GoalStatus]) -> String {
    text.split_inclusive('\n')
        .enumerate()
        .map(
            |(index, line)| match index.checked_sub(first).and_then(|row| statuses.get(row)) {
                Some(&status) => paint_status(line, status),
                None => line.to_owned(),
            },
        )
        .collect()
}

/// Returns `text` with the first whole-word `phrase` painted green when `good`, red
/// otherwise, when colour is on for documents (the verdict in a proof's title).
pub(crate) fn paint_verdict(text: &str, phrase: &str, good: bool) -> String {
    if !colour_documents() {
        return text.to_owned();
    }
    paint_word(text, phrase, if good { "32" } else { "31" })
}

/// Paints the first occurrence of `word` that stands alone (not part of `not_ready` when the
/// word is `ready`, say).
fn paint_word(line: &str, word: &str, code: &str) -> String {
    let is_word_byte = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_';
    let bytes = line.as_bytes();
    let found = line.match_indices(word).map(|(at, _)| at).find(|&at| {
        let end = at + word.len();
        (at == 0 || !is_word_byte(bytes[at - 1]))
            && (end == bytes.len() || !is_word_byte(bytes[end]))
    });
    match found {
        Some(at) => format!(
            "{}\x1b[{code}m{word}\x1b[0m{}",
            &line[..at],
            &line[at + word.len()..]
        ),
        None => line.to_owned(),
    }
}

/// Returns the width of the terminal standard output is, or `None` for a file or pipe.
pub(crate) fn stdout_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    width_of(libc::STDOUT_FILENO)
}

/// Returns the width of the terminal standard error is, or `None` for a file or pipe.
pub(crate) fn stderr_width() -> Option<usize> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    width_of(libc::STDERR_FILENO)
}

fn width_of(fd: libc::c_int) -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `winsize` into the pointer it is given, which lives for the call.
    let asked = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    (asked == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_painted_only_where_it_stands_alone() {
        assert_eq!(
            paint_word("x  not_ready  ready", "ready", "32"),
            "x  not_ready  \x1b[32mready\x1b[0m"
        );
        assert_eq!(paint_word("already", "ready", "32"), "already");
        assert_eq!(paint_word("ready.", "ready", "32"), "\x1b[32mready\x1b[0m.");
    }
}
