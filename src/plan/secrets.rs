//! The secret scan: private keys, known provider key shapes, and high-entropy values assigned
//! to names like key, secret, token or password. A finding names the file and line and the
//! kind of secret, never the secret itself.

use crate::event::{FindingSeverity, ReviewCheck, ReviewFinding};

/// Prefixes of provider keys, each with its minimum length after the prefix and its name.
const PROVIDER_KEYS: &[(&str, usize, &str)] = &[
    ("AKIA", 16, "an AWS access key id"),
    ("ghp_", 30, "a GitHub personal access token"),
    ("github_pat_", 30, "a GitHub fine-grained token"),
    ("xoxb-", 20, "a Slack bot token"),
    ("xoxp-", 20, "a Slack user token"),
    ("sk_live_", 20, "a Stripe live secret key"),
    ("AIza", 30, "a Google API key"),
    ("sk-ant-", 30, "an Anthropic API key"),
    ("glpat-", 20, "a GitLab personal access token"),
];

/// Names whose assigned values are secrets when they look random.
const SECRET_NAMES: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "private_key",
    "access_key",
    "auth",
];

/// Returns the findings in `text`, the content of `path`.
pub fn scan(path: &str, text: &str) -> Vec<ReviewFinding> {
    let mut findings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let found = |message: String| ReviewFinding {
            check: ReviewCheck::SecretScan,
            severity: FindingSeverity::High,
            file: Some(path.to_owned()),
            line: u32::try_from(index + 1).ok(),
            message,
        };
        if line.contains("-----BEGIN") && line.contains("PRIVATE KEY-----") {
            findings.push(found("a private key".to_owned()));
            continue;
        }
        if let Some(kind) = provider_key(line) {
            findings.push(found(format!("what looks like {kind}")));
            continue;
        }
        if let Some(name) = secret_assignment(line) {
            findings.push(found(format!("a high-entropy value assigned to `{name}`")));
        }
    }
    findings
}

/// Returns `text` with every line the scan flags replaced by a note of what it held, so that
/// output shown to people and agents never repeats a secret.
pub fn mask(text: &str) -> String {
    text.lines()
        .map(|line| match scan("", line).first() {
            Some(finding) => format!("[omk: line hidden: it holds {}]", finding.message),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn provider_key(line: &str) -> Option<&'static str> {
    PROVIDER_KEYS.iter().find_map(|(prefix, min_len, kind)| {
        line.match_indices(prefix).find_map(|(start, _)| {
            let rest = &line[start + prefix.len()..];
            let body = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                .count();
            let boundary = line[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            (boundary && body >= *min_len).then_some(*kind)
        })
    })
}

/// Returns the name when `line` assigns a random-looking value of 16+ characters to a secret-like name.
fn secret_assignment(line: &str) -> Option<String> {
    let (left, right) = line.split_once(['=', ':'])?;
    let name = left
        .trim()
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '`'))
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .next()?
        .to_owned();
    let lowered = name.to_lowercase();
    if !SECRET_NAMES.iter().any(|secret| lowered.contains(secret)) {
        return None;
    }
    let value: String = right
        .trim()
        .trim_start_matches(['=', ' '])
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | ',' | ';'))
        .to_owned();
    // A secret is one token; code that reads one (`std::env::var("API_TOKEN")`) is not.
    let one_token = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.' | '~'));
    let looks_random = value.len() >= 16 && one_token && entropy(&value) >= 3.5;
    looks_random.then_some(name)
}

/// Returns the Shannon entropy of `text`, in bits per character.
fn entropy(text: &str) -> f64 {
    let mut counts = [0u32; 256];
    for byte in text.bytes() {
        counts[usize::from(byte)] += 1;
    }
    let total = text.len() as f64;
    counts
        .iter()
        .filter(|count| **count > 0)
        .map(|count| {
            let share = f64::from(*count) / total;
            -share * share.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_the_lines_that_hold_secrets_and_keeps_the_rest() {
        let output =
            "test parse ... FAILED\nAWS_KEY=AKIAIOSFODNN7EXAMPLE\nassertion failed: left == right";
        assert_eq!(
            mask(output),
            "test parse ... FAILED\n[omk: line hidden: it holds what looks like an AWS access key id]\nassertion failed: left == right"
        );
    }

    #[test]
    fn secrets_are_found_by_place_without_copying_them() {
        let text = "let a = 1;\n-----BEGIN RSA PRIVATE KEY-----\naws = \"AKIAIOSFODNN7EXAMPLE\"\napi_token = \"q8Zr2LwX9vK4mN7pT1sY6hJ3\"\npassword = \"changeme\"\ntoken_count = 42\napi_token = std::env::var(\"API_TOKEN\")\n";
        let findings = scan("src/config.rs", text);
        let places: Vec<(Option<u32>, &str)> = findings
            .iter()
            .map(|f| (f.line, f.message.as_str()))
            .collect();
        assert_eq!(
            places,
            [
                (Some(2), "a private key"),
                (Some(3), "what looks like an AWS access key id"),
                (Some(4), "a high-entropy value assigned to `api_token`"),
            ]
        );
        for finding in &findings {
            assert!(
                !finding.message.contains("AKIAIOSFODNN7EXAMPLE")
                    && !finding.message.contains("q8Zr2")
            );
        }
    }
}
