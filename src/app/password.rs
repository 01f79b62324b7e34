//! The password policy, one function for register, change and reset (and the strength meter):
//! 12-128 characters of any Unicode, no composition rules, and a zxcvbn score of at least 3 with
//! the username, name and PIN as context. Only the first 100 characters are scored, which bounds
//! zxcvbn's work on long input.

use serde::Serialize;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;
pub const MIN_SCORE: u8 = 3;
const SCORED_CHARS: usize = 100;

/// The verdict shown by the meter and enforced by the server.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    /// 0 (weakest) to 4.
    pub score: u8,
    pub acceptable: bool,
    /// Why it is refused, in words a person understands; empty when acceptable.
    pub problems: Vec<String>,
    /// Hints to make it stronger.
    pub suggestions: Vec<String>,
}

impl Verdict {
    /// The refusal reason as one sentence, for a form error.
    pub fn reason(&self) -> String {
        self.problems.join("; ")
    }
}

/// Judges `password` against the policy; `context` holds the words a guesser would try first
/// (username, name, PIN).
pub fn judge(password: &str, context: &[&str]) -> Verdict {
    let n_chars = password.chars().count();
    let mut problems = Vec::new();
    if n_chars < MIN_CHARS {
        problems.push(format!("use at least {MIN_CHARS} characters"));
    }
    if n_chars > MAX_CHARS {
        problems.push(format!("use at most {MAX_CHARS} characters"));
    }
    let scored: String = password.chars().take(SCORED_CHARS).collect();
    let context: Vec<&str> = context.iter().copied().filter(|c| !c.is_empty()).collect();
    let mut suggestions = Vec::new();
    let score = if scored.is_empty() {
        0
    } else {
        let entropy = zxcvbn::zxcvbn(&scored, &context);
        if let Some(feedback) = entropy.feedback() {
            if let Some(warning) = feedback.warning() {
                suggestions.push(warning.to_string());
            }
            suggestions.extend(feedback.suggestions().iter().map(|s| s.to_string()));
        }
        u8::from(entropy.score())
    };
    let lowered = password.to_lowercase();
    let contains_context = context
        .iter()
        .any(|c| c.chars().count() >= 3 && lowered.contains(&c.to_lowercase()));
    if score < MIN_SCORE {
        problems.push("this password is too easy to guess".to_string());
    } else if contains_context {
        problems.push("do not build the password from your username, name or the PIN".to_string());
    }
    if contains_context && score < MIN_SCORE {
        suggestions.insert(0, "avoid your username, name and the PIN".to_string());
    }
    Verdict {
        score,
        acceptable: problems.is_empty(),
        problems,
        suggestions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_common_passwords_are_refused() {
        assert!(!judge("short", &[]).acceptable);
        assert!(!judge("password1234", &[]).acceptable);
        assert!(!judge(&"x".repeat(129), &[]).acceptable);
    }

    #[test]
    fn a_long_random_phrase_passes() {
        let verdict = judge("violet kettle orbit 94 glacier", &["alice", "Alice Smith"]);
        assert!(verdict.acceptable, "{verdict:?}");
    }

    #[test]
    fn context_words_are_refused() {
        let verdict = judge("aliceanderson2026", &["aliceanderson", "Alice Anderson"]);
        assert!(!verdict.acceptable, "{verdict:?}");
        let verdict = judge("cap2021cap2021cap2021", &["bob", "Bob", "cap2021"]);
        assert!(!verdict.acceptable, "{verdict:?}");
    }
}
