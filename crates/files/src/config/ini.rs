//! The INI dialect of Python's `configparser.RawConfigParser` with its default
//! settings, which is what botocore reads `~/.aws/config` with
//! (`aws-cli-compat.md` §3.1), plus botocore's one level of nested blocks.
//!
//! Line by line, after splitting on `\n`, `\r\n` or `\r`:
//! * a line that is blank after stripping white space adds an empty line to
//!   the value being read, if any (it does not end the value);
//! * a line whose first non-blank character is `#` or `;` is a comment, even
//!   when indented; comments never end a value and are never part of one;
//! * a line indented deeper than the line that started the current setting
//!   continues that setting's value (section headers included);
//! * otherwise `[HEADER]` (up to the *last* `]` on the line; anything after it
//!   is ignored) starts a section, and `DEFAULT` is the special section whose
//!   settings every other section inherits;
//! * otherwise the line is `name = value` or `name: value`, split at the first
//!   `=` or `:`; the name is lower-cased, both sides are stripped, and nothing
//!   is an inline comment.
//!
//! A value is its lines joined with `\n`, trailing white space removed. If it
//! then starts with `\n` (nothing after the `=` on the setting's own line,
//! indented lines below), botocore reads it as a block of `key = value` lines.
//!
//! Like Python with `strict=True` (the default botocore does not change), a
//! section header or a setting that appears twice is an error, as are lines
//! before the first header and lines that are none of the above.

use std::collections::{BTreeMap, HashMap};

use super::error::SyntaxProblem;

/// Python's `str.isspace`: Unicode white space plus the four separators
/// U+001C..U+001F, which Rust's `char::is_whitespace` leaves out.
pub(super) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub(super) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `str.rstrip()`.
fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// The line breaks of Python's `str.splitlines` other than `\n` and `\r`,
/// which cannot occur inside a line of the file.
fn is_py_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Splits like Python's universal-newline file reading: `\r\n`, `\r` or `\n`.
/// A final line break does not start another line.
fn file_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.split_once(['\r', '\n']) {
            None => {
                lines.push(rest);
                break;
            }
            Some((line, after)) => {
                lines.push(line);
                // `\r\n` is one break; the `\r` was the one split on.
                let crlf = rest.get(line.len()..line.len() + 2) == Some("\r\n");
                rest = if crlf {
                    after.strip_prefix('\n').unwrap_or(after)
                } else {
                    after
                };
            }
        }
    }
    lines
}

/// The 1-based line on which the text right after `before` lies.
pub(super) fn line_count(before: &str) -> usize {
    let mut line = 1usize;
    let mut chars = before.chars().peekable();
    while let Some(c) = chars.next() {
        let breaks = c == '\n' || (c == '\r' && chars.peek() != Some(&'\n'));
        if breaks {
            line = line.saturating_add(1);
        }
    }
    line
}

/// One setting as read: the text after the delimiter on its own line, then
/// each continuation line, all stripped, each with its 1-based line number.
#[derive(Debug, Clone)]
pub(super) struct RawSetting {
    /// Line of the `name = value` line.
    pub(super) line: usize,
    pub(super) parts: Vec<(String, usize)>,
}

/// A section as read, settings keyed by lower-cased name.
#[derive(Debug, Clone)]
pub(super) struct RawSection {
    /// The text between the brackets, as written.
    pub(super) header: String,
    pub(super) line: usize,
    pub(super) settings: BTreeMap<String, RawSetting>,
}

/// A whole file: sections in the order they first appear, and `[DEFAULT]`.
#[derive(Debug, Default)]
pub(super) struct RawFile {
    pub(super) sections: Vec<RawSection>,
    pub(super) defaults: BTreeMap<String, RawSetting>,
}

/// Where settings currently go.
#[derive(Clone, Copy)]
enum Target {
    Defaults,
    Section(usize),
}

/// The first problem in `text`, with its line, or the file's sections.
pub(super) fn parse(text: &str) -> Result<RawFile, (usize, SyntaxProblem)> {
    let mut file = RawFile::default();
    // Header → index into `file.sections`, to find duplicates quickly.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut target: Option<Target> = None;
    // The setting that continuation lines extend, in the current target.
    let mut setting: Option<String> = None;
    // Indentation (in characters) of the line that opened the current setting.
    let mut indent_level = 0usize;
    for (index, line) in file_lines(text).into_iter().enumerate() {
        let number = index + 1;
        let clean = py_strip(line);
        if clean.starts_with('#') || clean.starts_with(';') {
            continue;
        }
        if clean.is_empty() {
            extend_setting(&mut file, target, setting.as_ref(), String::new(), number);
            continue;
        }
        let indent = line.chars().take_while(|c| is_py_space(*c)).count();
        if indent > indent_level
            && extend_setting(
                &mut file,
                target,
                setting.as_ref(),
                clean.to_owned(),
                number,
            )
        {
            continue;
        }
        indent_level = indent;
        if let Some(header) = section_header(clean) {
            setting = None;
            if header == "DEFAULT" {
                target = Some(Target::Defaults);
            } else if let Some(first) = seen.get(header).and_then(|&i| file.sections.get(i)) {
                return Err((
                    number,
                    SyntaxProblem::DuplicateSection {
                        header: header.to_owned(),
                        first_line: first.line,
                    },
                ));
            } else {
                seen.insert(header.to_owned(), file.sections.len());
                target = Some(Target::Section(file.sections.len()));
                file.sections.push(RawSection {
                    header: header.to_owned(),
                    line: number,
                    settings: BTreeMap::new(),
                });
            }
            continue;
        }
        let Some(t) = target else {
            let problem = if number == 1 && line.starts_with('\u{feff}') {
                SyntaxProblem::ByteOrderMark
            } else {
                SyntaxProblem::BeforeFirstSection
            };
            return Err((number, problem));
        };
        let Some((name, value)) = name_and_value(clean) else {
            return Err((number, SyntaxProblem::NotASetting));
        };
        if name.is_empty() {
            return Err((number, SyntaxProblem::EmptyName));
        }
        let key = name.to_lowercase();
        let section = match t {
            Target::Defaults => "DEFAULT",
            Target::Section(i) => file.sections.get(i).map_or("", |s| s.header.as_str()),
        }
        .to_owned();
        let settings = settings_of(&mut file, t);
        if let Some(first) = settings.get(&key) {
            return Err((
                number,
                SyntaxProblem::DuplicateKey {
                    section,
                    key,
                    first_line: first.line,
                },
            ));
        }
        settings.insert(
            key.clone(),
            RawSetting {
                line: number,
                parts: vec![(value.to_owned(), number)],
            },
        );
        setting = Some(key);
    }
    Ok(file)
}

/// Adds a line to the value of the setting being read; false if there is none.
fn extend_setting(
    file: &mut RawFile,
    target: Option<Target>,
    setting: Option<&String>,
    part: String,
    number: usize,
) -> bool {
    let (Some(target), Some(name)) = (target, setting) else {
        return false;
    };
    match settings_of(file, target).get_mut(name) {
        Some(setting) => {
            setting.parts.push((part, number));
            true
        }
        None => false,
    }
}

fn settings_of(file: &mut RawFile, target: Target) -> &mut BTreeMap<String, RawSetting> {
    match target {
        Target::Section(i) => match file.sections.get_mut(i) {
            Some(section) => &mut section.settings,
            // Indices come from `sections.len()` before a push; never reached.
            None => &mut file.defaults,
        },
        Target::Defaults => &mut file.defaults,
    }
}

/// configparser's `\[(?P<header>.+)\]` matched at the start of the stripped
/// line: the header runs to the last `]` and must not be empty.
fn section_header(clean: &str) -> Option<&str> {
    let inner = clean.strip_prefix('[')?;
    let end = inner.rfind(']')?;
    inner.get(..end).filter(|header| !header.is_empty())
}

/// configparser's option pattern: the name is everything before the first `=`
/// or `:`, the value everything after, both stripped.
fn name_and_value(clean: &str) -> Option<(&str, &str)> {
    let (name, value) = clean.split_once(['=', ':'])?;
    Some((py_rstrip(name), py_strip(value)))
}

/// What a setting's value is after joining its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Joined {
    /// A plain value (possibly several lines joined with `\n`).
    Text(String),
    /// A block of `key = value` lines: key (case kept, as botocore does) →
    /// (value, line).
    Nested(BTreeMap<String, (String, usize)>),
}

/// configparser's join (`'\n'.join(lines).rstrip()`), then botocore's
/// `_parse_nested` when the result starts with a line break. A block line
/// without `=` is an error (botocore raises `ConfigParseError`); keys and
/// values are stripped; a repeated key keeps the last value.
pub(super) fn join(setting: &RawSetting) -> Result<Joined, usize> {
    let all: Vec<&str> = setting.parts.iter().map(|(p, _)| p.as_str()).collect();
    let joined = all.join("\n");
    let joined = py_rstrip(&joined);
    if !joined.starts_with('\n') {
        return Ok(Joined::Text(joined.to_owned()));
    }
    let mut block = BTreeMap::new();
    for (part, number) in &setting.parts {
        for piece in part.split(is_py_line_break) {
            let piece = py_strip(piece);
            if piece.is_empty() {
                continue;
            }
            let (key, value) = piece.split_once('=').ok_or(*number)?;
            block.insert(
                py_strip(key).to_owned(),
                (py_strip(value).to_owned(), *number),
            );
        }
    }
    Ok(Joined::Nested(block))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn read(text: &str) -> RawFile {
        parse(text).unwrap()
    }

    fn value(file: &RawFile, section: usize, key: &str) -> Joined {
        join(&file.sections[section].settings[key]).unwrap()
    }

    fn text(s: &str) -> Joined {
        Joined::Text(s.to_owned())
    }

    #[test]
    fn lines_split_like_universal_newlines() {
        assert_eq!(file_lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(file_lines("a\n"), ["a"]);
        assert_eq!(file_lines("a\n\n"), ["a", ""]);
        assert_eq!(file_lines("\r\n\r"), ["", ""]);
        assert_eq!(file_lines(""), Vec::<&str>::new());
    }

    #[test]
    fn settings_names_and_values() {
        let f = read("[s]\nA = 1\nb: 2\nc=d=e\ne:f=g\nMixed Case Name \t=  x y  \nempty =\n");
        assert_eq!(value(&f, 0, "a"), text("1"));
        assert_eq!(value(&f, 0, "b"), text("2"));
        assert_eq!(value(&f, 0, "c"), text("d=e"));
        assert_eq!(value(&f, 0, "e"), text("f=g"));
        assert_eq!(value(&f, 0, "mixed case name"), text("x y"));
        assert_eq!(value(&f, 0, "empty"), text(""));
    }

    #[test]
    fn comments_are_whole_lines_only() {
        let f = read("# top\n; top\n[s]\n  # indented\nk = v # not a comment ; nor this\n");
        assert_eq!(value(&f, 0, "k"), text("v # not a comment ; nor this"));
    }

    #[test]
    fn headers_run_to_the_last_bracket() {
        let f = read("[a] trailing\n[b]c]\n[ spaced ]\n");
        let headers: Vec<&str> = f.sections.iter().map(|s| s.header.as_str()).collect();
        assert_eq!(headers, ["a", "b]c", " spaced "]);
        // `[]` is no header; as a setting it has no delimiter.
        assert_eq!(
            parse("[s]\n[]\n").err(),
            Some((2, SyntaxProblem::NotASetting))
        );
        // ... but `[]=x` is a setting named `[]`.
        assert_eq!(value(&read("[s]\n[]=x\n"), 0, "[]"), text("x"));
    }

    #[test]
    fn continuation_lines_and_blocks() {
        let f = read(
            "[s]\nmulti = first\n  second\n\n  third\nblock =\n  a = 1\n\n  # note\n  B = 2\nafter = z\n",
        );
        assert_eq!(value(&f, 0, "multi"), text("first\nsecond\n\nthird"));
        let mut block = BTreeMap::new();
        block.insert("a".to_owned(), ("1".to_owned(), 7));
        block.insert("B".to_owned(), ("2".to_owned(), 10));
        assert_eq!(value(&f, 0, "block"), Joined::Nested(block));
        assert_eq!(value(&f, 0, "after"), text("z"));
    }

    #[test]
    fn indented_settings_set_the_level_for_their_continuations() {
        let f = read("[s]\n  a = 1\n  b = 2\n    more\n");
        assert_eq!(value(&f, 0, "a"), text("1"));
        assert_eq!(value(&f, 0, "b"), text("2\nmore"));
        // A deeper-indented header is a continuation, as in configparser.
        let f = read("[s]\na = 1\n  [t]\n");
        assert_eq!(value(&f, 0, "a"), text("1\n[t]"));
        assert_eq!(f.sections.len(), 1);
    }

    #[test]
    fn an_empty_value_with_only_blank_lines_after_is_empty_text() {
        let f = read("[s]\nk =\n\n\n[t]\n");
        assert_eq!(value(&f, 0, "k"), text(""));
    }

    #[test]
    fn a_block_line_without_equals_is_an_error_with_its_line() {
        let f = read("[s]\nk =\n  a = 1\n  b: 2\n");
        assert_eq!(join(&f.sections[0].settings["k"]), Err(4));
    }

    #[test]
    fn defaults_are_collected_apart() {
        let f = read("[DEFAULT]\nx = 1\n[s]\ny = 2\n[DEFAULT]\nz = 3\n");
        assert_eq!(f.sections.len(), 1);
        assert_eq!(
            f.defaults.keys().map(String::as_str).collect::<Vec<_>>(),
            ["x", "z"]
        );
    }

    #[test]
    fn errors_name_their_line() {
        assert_eq!(
            parse("k = v\n").err(),
            Some((1, SyntaxProblem::BeforeFirstSection))
        );
        assert_eq!(
            parse("\u{feff}[default]\n").err(),
            Some((1, SyntaxProblem::ByteOrderMark))
        );
        assert_eq!(
            parse("[s]\ngarbage\n").err(),
            Some((2, SyntaxProblem::NotASetting))
        );
        assert_eq!(
            parse("[s]\n = v\n").err(),
            Some((2, SyntaxProblem::EmptyName))
        );
        assert_eq!(
            parse("[s]\n[t]\n[s]\n").err(),
            Some((
                3,
                SyntaxProblem::DuplicateSection {
                    header: "s".into(),
                    first_line: 1
                }
            ))
        );
        assert_eq!(
            parse("[s]\nk = 1\nK = 2\n").err(),
            Some((
                3,
                SyntaxProblem::DuplicateKey {
                    section: "s".into(),
                    key: "k".into(),
                    first_line: 2
                }
            ))
        );
        assert_eq!(
            parse("[DEFAULT]\nk = 1\n[DEFAULT]\nk = 2\n").err(),
            Some((
                4,
                SyntaxProblem::DuplicateKey {
                    section: "DEFAULT".into(),
                    key: "k".into(),
                    first_line: 2
                }
            ))
        );
    }

    #[test]
    fn python_white_space_is_stripped() {
        let f = read("[s]\n\u{1f}k\u{3000}=\u{a0}v\u{85}\n");
        assert_eq!(value(&f, 0, "k"), text("v"));
    }
}
