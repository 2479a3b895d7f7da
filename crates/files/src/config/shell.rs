//! Section headers are split into words by POSIX shell rules, as botocore does
//! with Python's `shlex.split` (`aws-cli-compat.md` §3.1), and the AWS CLI
//! writes names that need it in single quotes. This is that splitter and that
//! quoting, written for headers only: no comments, no punctuation tokens.

/// Why a header cannot be split; botocore then ignores the section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SplitError {
    /// A `'` or `"` without its closing partner.
    UnclosedQuote,
    /// A `\` at the very end, with nothing to escape.
    TrailingBackslash,
}

/// What the splitter is in the middle of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between words.
    Gap,
    /// Inside a word, outside quotes.
    Word,
    /// Inside `'…'`: every character is literal.
    Single,
    /// Inside `"…"`: `\"` and `\\` are escapes, any other `\` is literal.
    Double,
    /// After a `\` outside quotes: the next character is literal.
    Escaped,
    /// After a `\` inside double quotes.
    EscapedInDouble,
}

/// The separators `shlex` splits on; other white space (tabs aside) is part of a word.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits `text` into words the way a POSIX shell (and `shlex.split`) does:
/// quotes group, backslashes escape, and a quoted empty string is a word.
pub(super) fn split(text: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut state = State::Gap;
    for c in text.chars() {
        state = match state {
            State::Gap | State::Word if is_separator(c) => {
                if state == State::Word {
                    words.push(std::mem::take(&mut word));
                }
                State::Gap
            }
            State::Gap | State::Word => match c {
                '\\' => State::Escaped,
                '\'' => State::Single,
                '"' => State::Double,
                _ => {
                    word.push(c);
                    State::Word
                }
            },
            State::Single if c == '\'' => State::Word,
            State::Double if c == '"' => State::Word,
            State::Double if c == '\\' => State::EscapedInDouble,
            State::Single | State::Double => {
                word.push(c);
                state
            }
            State::Escaped => {
                word.push(c);
                State::Word
            }
            State::EscapedInDouble => {
                // Inside double quotes only the quote and the backslash itself
                // can be escaped; before anything else the backslash stays.
                if c != '"' && c != '\\' {
                    word.push('\\');
                }
                word.push(c);
                State::Double
            }
        };
    }
    match state {
        State::Gap => {}
        // A word that was only quotes (`''`) is still a word, an empty one.
        State::Word => words.push(word),
        State::Single | State::Double => return Err(SplitError::UnclosedQuote),
        State::Escaped | State::EscapedInDouble => return Err(SplitError::TrailingBackslash),
    }
    Ok(words)
}

/// `name` as one shell word: unchanged when it has only characters a shell
/// leaves alone, else in single quotes (how the AWS CLI writes headers).
pub(super) fn quote(name: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !name.is_empty() && name.chars().all(plain) {
        return name.to_owned();
    }
    // A single quote cannot appear inside single quotes: close, add it in
    // double quotes, reopen.
    format!("'{}'", name.replace('\'', r#"'"'"'"#))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn words(text: &str) -> Vec<String> {
        split(text).unwrap()
    }

    #[test]
    fn plain_words_split_on_blanks_and_tabs() {
        assert_eq!(words("profile dev"), ["profile", "dev"]);
        assert_eq!(words("  profile \t dev  "), ["profile", "dev"]);
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words("   "), Vec::<String>::new());
        // Only space, tab, CR and LF separate words.
        assert_eq!(words("a\u{a0}b"), ["a\u{a0}b"]);
    }

    #[test]
    fn quotes_group_and_join() {
        assert_eq!(words("profile 'my dev'"), ["profile", "my dev"]);
        assert_eq!(words(r#"profile "my dev""#), ["profile", "my dev"]);
        assert_eq!(words(r#"a"b c"d"#), ["ab cd"]);
        assert_eq!(words("profile ''"), ["profile", ""]);
        assert_eq!(words(r#"'' """#), ["", ""]);
        assert_eq!(words(r#"'a"b'"#), [r#"a"b"#]);
        assert_eq!(words(r#""it's""#), ["it's"]);
    }

    #[test]
    fn backslashes_escape_outside_quotes_and_partly_inside_double_quotes() {
        assert_eq!(words(r"my\ dev"), ["my dev"]);
        assert_eq!(words(r"\a\'"), ["a'"]);
        assert_eq!(words(r#""a\"b""#), [r#"a"b"#]);
        assert_eq!(words(r#""a\\b""#), [r"a\b"]);
        assert_eq!(words(r#""a\nb""#), [r"a\nb"]);
        assert_eq!(words(r"'a\b'"), [r"a\b"]);
    }

    #[test]
    fn unbalanced_input_is_an_error() {
        assert_eq!(split("profile 'dev"), Err(SplitError::UnclosedQuote));
        assert_eq!(split(r#"profile "dev"#), Err(SplitError::UnclosedQuote));
        assert_eq!(split(r#""a\""#), Err(SplitError::UnclosedQuote));
        assert_eq!(split("dev\\"), Err(SplitError::TrailingBackslash));
    }

    #[test]
    fn quote_round_trips_through_split() {
        for name in [
            "dev",
            "my dev",
            "",
            "it's",
            r#"a"b"#,
            r"back\slash",
            "tab\there",
        ] {
            let quoted = quote(name);
            assert_eq!(words(&quoted), [name], "{quoted}");
        }
        assert_eq!(quote("my-sso_1.x@y"), "my-sso_1.x@y");
        assert_eq!(quote("my dev"), "'my dev'");
    }
}
