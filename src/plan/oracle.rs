//! The oracle guard: can the goal's success be tested without a human decision?
//!
//! A deliberately simple, documented heuristic (docs/oracle-guard.md) over the prompt's words.
//! It must let plainly testable goals through; it blocks only when the prompt leans on a human
//! (credentials, paid services) or names no observable outcome at all.

use crate::event::{OracleChecked, OracleSignal};

/// Phrases that need a human to hand over access: no test can stand in for them.
const CREDENTIALS: &[&str] = &[
    "api key",
    "api keys",
    "credentials",
    "access token",
    "secret key",
    "ssh key",
    "log in to",
    "login to",
    "sign in to",
    "sign up for",
    "our account",
    "my account",
    "password for",
];

/// Phrases that commit money.
const PAID_SERVICES: &[&str] = &[
    "purchase",
    "buy a",
    "buy the",
    "paid plan",
    "paid tier",
    "subscription",
    "credit card",
    "billing account",
    "pay for",
    "upgrade our plan",
];

/// Phrases whose success is a matter of taste.
const TASTE: &[&str] = &[
    "look better",
    "looks better",
    "look nicer",
    "looks nicer",
    "nicer",
    "prettier",
    "beautiful",
    "elegant",
    "modern look",
    "feel better",
    "more intuitive",
    "delightful",
    "aesthetic",
    "sleek",
    "cleaner design",
];

/// Phrases that ask for a decision rather than a change.
const STRATEGY: &[&str] = &[
    "strategy",
    "roadmap",
    "prioritize",
    "prioritise",
    "decide whether",
    "decide which",
    "which framework",
    "business case",
    "pricing",
    "marketing",
    "should we",
];

/// Words that name something a test or a gate can observe.
const OBSERVABLE: &[&str] = &[
    "test",
    "tests",
    "failing",
    "fails",
    "fail",
    "error",
    "errors",
    "bug",
    "crash",
    "crashes",
    "panic",
    "panics",
    "flag",
    "option",
    "command",
    "subcommand",
    "endpoint",
    "function",
    "method",
    "returns",
    "return",
    "output",
    "prints",
    "print",
    "exit code",
    "compile",
    "compiles",
    "parse",
    "parses",
    "benchmark",
    "warning",
    "warnings",
    "lint",
    "message",
    "messages",
    "field",
    "column",
    "argument",
    "status code",
    "response",
];

/// Verbs of a concrete change: observable enough for an otherwise plain goal.
const CHANGE_VERBS: &[&str] = &[
    "add",
    "fix",
    "implement",
    "remove",
    "rename",
    "support",
    "handle",
    "write",
    "create",
    "delete",
    "replace",
    "move",
    "extract",
    "update",
    "upgrade",
    "port",
    "validate",
    "reject",
    "accept",
    "document",
];

/// Returns the guard's finding for `prompt` (already normalised).
pub fn check_oracle(prompt: &str) -> OracleChecked {
    let lowered = prompt.to_lowercase();
    let mut signals = Vec::new();
    let mut collect = |category: &str, phrases: &[&str]| {
        for phrase in phrases {
            if contains_phrase(&lowered, phrase) {
                signals.push(OracleSignal {
                    category: category.to_owned(),
                    phrase: (*phrase).to_owned(),
                });
            }
        }
    };
    collect("credentials", CREDENTIALS);
    collect("paid_service", PAID_SERVICES);
    collect("taste", TASTE);
    collect("strategy", STRATEGY);
    collect("observable", OBSERVABLE);
    collect("change", CHANGE_VERBS);
    for token in code_tokens(prompt) {
        signals.push(OracleSignal {
            category: "code".to_owned(),
            phrase: token,
        });
    }
    let has = |category: &str| signals.iter().any(|signal| signal.category == category);
    let strongly_observable = has("observable") || has("code");
    let mut decisions = Vec::new();
    if has("credentials") {
        decisions.push("Provide the credentials or access the goal needs, or say how to test it without them (a fake or a recorded fixture)".to_owned());
    }
    if has("paid_service") {
        decisions.push("Approve the spending on the paid service, or name a free substitute to build and test against".to_owned());
    }
    if has("taste") && !strongly_observable {
        decisions.push("Say what observable result would show it looks or feels right (a behaviour, a rendered output, a measurable property)".to_owned());
    }
    if has("strategy") && !strongly_observable {
        decisions.push("Make the decision the prompt asks for, then restate the goal as the change that decision implies".to_owned());
    }
    if !strongly_observable && !has("change") && decisions.is_empty() {
        decisions.push("Say what observable behaviour proves the goal done: a command's output, a test that should pass, an error that should go away".to_owned());
    }
    OracleChecked {
        testable: decisions.is_empty(),
        signals,
        decisions_required: decisions,
    }
}

/// Returns whether `phrase` occurs in `text` on word boundaries.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(phrase).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + phrase.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// Returns the tokens of `prompt` that are plainly code: `backticked`, `--flags`, `file.ext`,
/// `snake_case`, `CamelCase` or `path/like`, in prompt order, each once.
pub fn code_tokens(prompt: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    for (index, quoted) in prompt.split('`').enumerate() {
        if index % 2 == 1 && !quoted.trim().is_empty() {
            push_unique(&mut tokens, quoted.trim());
        }
    }
    for word in prompt.split_whitespace() {
        let word = word.trim_matches(|c: char| {
            matches!(
                c,
                ',' | '.' | ';' | ':' | '!' | '?' | '(' | ')' | '"' | '\'' | '`'
            )
        });
        if is_code_like(word) {
            push_unique(&mut tokens, word);
        }
    }
    tokens
}

fn push_unique(tokens: &mut Vec<String>, token: &str) {
    if !tokens.iter().any(|seen| seen == token) {
        tokens.push(token.to_owned());
    }
}

fn is_code_like(word: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_alphanumeric();
    let flag = word.len() > 2
        && word.starts_with("--")
        && word[2..].chars().all(|c| alphanumeric(c) || c == '-');
    let snake = word.contains('_') && word.chars().all(|c| alphanumeric(c) || c == '_');
    let camel = word.len() > 2
        && word.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && word.chars().skip(1).any(|c| c.is_ascii_uppercase())
        && word.chars().any(|c| c.is_ascii_lowercase())
        && word.chars().all(alphanumeric);
    let file = word.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (1..=5).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_lowercase())
            && stem
                .chars()
                .all(|c| alphanumeric(c) || matches!(c, '_' | '-' | '/'))
    });
    let path = word.contains('/')
        && !word.starts_with("http")
        && word
            .chars()
            .all(|c| alphanumeric(c) || matches!(c, '_' | '-' | '/' | '.'));
    flag || snake || camel || file || path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testable(prompt: &str) -> bool {
        check_oracle(prompt).testable
    }

    #[test]
    fn plainly_testable_goals_pass() {
        for prompt in [
            "Add a --json flag to the list command",
            "Fix the failing test in parser.rs",
            "Make `omk status` print the budget",
            "Add pagination to the users list",
            "Rename load_config to read_config",
            "Make the error messages nicer: include the file path",
            "Fix the login bug where the password field is not masked",
            "Support reading gzip files",
        ] {
            assert!(
                testable(prompt),
                "{prompt:?} should be testable: {:?}",
                check_oracle(prompt)
            );
        }
    }

    #[test]
    fn goals_that_need_a_human_are_blocked_with_decisions() {
        for prompt in [
            "Make the UI look nicer",
            "Decide which framework we should use for the frontend",
            "Integrate Stripe with our API key and go live",
            "Buy a domain and set up hosting",
            "Improve things",
            "Think about the architecture",
        ] {
            let verdict = check_oracle(prompt);
            assert!(!verdict.testable, "{prompt:?} should need a human");
            assert!(!verdict.decisions_required.is_empty(), "{prompt:?}");
        }
    }

    #[test]
    fn phrases_match_whole_words_only() {
        assert!(contains_phrase("add a test", "test"));
        assert!(!contains_phrase("the latest build", "test"));
        assert!(!contains_phrase("fixture", "fix"));
    }

    #[test]
    fn code_tokens_are_found_in_order() {
        assert_eq!(
            code_tokens("Add `--json` to list_cmd in src/cli.rs for GoalState"),
            ["--json", "list_cmd", "src/cli.rs", "GoalState"]
        );
    }
}
