//! Text from outside (a service's user code, link or error description, a
//! config file's names) is printed through [`printable`], so a hostile
//! server cannot move the cursor, recolour or rewrite the terminal, forge
//! lines, or reverse text with bidirectional overrides.

/// `text` with every control character (C0 including newline, DEL, C1) and
/// every bidirectional formatting character shown as a `\u{…}` escape.
pub(crate) fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_shown_not_obeyed() {
        assert_eq!(printable("ABCD-EFGH"), "ABCD-EFGH");
        assert_eq!(
            printable("\u{1b}[2J\u{1b}]0;pwned\u{7}"),
            "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(printable("line\nforged"), "line\\u{a}forged");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(printable("café ✓"), "café ✓");
    }
}
