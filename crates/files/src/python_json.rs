//! JSON laid out byte for byte as Python's `json.dumps` does: by default `", "`
//! between members and `": "` after keys, or with `separators=(',', ':')` no
//! spaces at all ([`to_vec_compact`]); in both, `ensure_ascii`: every
//! character outside `' '..='~'` escaped as `\uXXXX` in lower-case hex
//! (surrogate pairs above U+FFFF, DEL too). The AWS CLI writes its token and
//! role-credential files in the default form, hashes that form of its
//! registration-cache key and the compact form of its role-cache key, so the
//! same bytes are needed both to write files the CLI would write and to find
//! its entries (`aws-cli-compat.md` §4.3, §5.1; `portal-api.md` §10.2, §10.4).

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// Serializes `value` in `json.dumps` layout. Key order is the value's own:
/// a struct's field order, or a `serde_json::Map`'s (sorted, without the
/// `preserve_order` feature, which is what `sort_keys=True` needs).
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    write(value, PythonFormatter { compact: false })
}

/// Serializes `value` as `json.dumps(value, separators=(',', ':'))` lays it
/// out: the same escaping, no spaces. Key order as in [`to_vec`].
pub(crate) fn to_vec_compact<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    write(value, PythonFormatter { compact: true })
}

fn write<T: Serialize + ?Sized>(
    value: &T,
    formatter: PythonFormatter,
) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut serializer = Serializer::with_formatter(&mut bytes, formatter);
    value.serialize(&mut serializer)?;
    Ok(bytes)
}

struct PythonFormatter {
    /// `separators=(',', ':')` rather than the default `(', ', ': ')`.
    compact: bool,
}

impl PythonFormatter {
    /// The item separator before every member or element but the first.
    fn separator<W: ?Sized + io::Write>(&self, writer: &mut W, first: bool) -> io::Result<()> {
        match (first, self.compact) {
            (true, _) => Ok(()),
            (false, true) => writer.write_all(b","),
            (false, false) => writer.write_all(b", "),
        }
    }
}

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(if self.compact {
            b":".as_slice()
        } else {
            b": ".as_slice()
        })
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json has already escaped quotes, backslashes and control
        // characters; what is left to do is ensure_ascii, which escapes
        // everything outside ' '..='~': non-ASCII, and DEL (0x7f).
        let mut start = 0;
        for (index, c) in fragment.char_indices() {
            if c.is_ascii() && c != '\x7f' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..index])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = index + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn dumps(value: &serde_json::Value) -> String {
        String::from_utf8(to_vec(value).unwrap()).unwrap()
    }

    #[test]
    fn separators_and_sorted_keys_match_python() {
        // json.dumps({"b": [1, 2], "a": None, "c": {"x": "y"}}, sort_keys=True)
        let value = json!({"b": [1, 2], "a": null, "c": {"x": "y"}});
        assert_eq!(
            dumps(&value),
            r#"{"a": null, "b": [1, 2], "c": {"x": "y"}}"#
        );
        assert_eq!(dumps(&json!([])), "[]");
        assert_eq!(dumps(&json!({})), "{}");
    }

    #[test]
    fn non_ascii_is_escaped_as_python_does() {
        // json.dumps("café 😀 \"q\" \\ \n") == '"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\n"'
        let value = json!("café 😀 \"q\" \\ \n");
        assert_eq!(dumps(&value), r#""caf\u00e9 \ud83d\ude00 \"q\" \\ \n""#);
        // json.dumps("\x7f\x00\x1f\u2028/\t\b\f\r") == '"\\u007f\\u0000\\u001f\\u2028/\\t\\b\\f\\r"'
        let value = json!("\u{7f}\u{0}\u{1f}\u{2028}/\t\u{8}\u{c}\r");
        assert_eq!(dumps(&value), r#""\u007f\u0000\u001f\u2028/\t\b\f\r""#);
    }

    #[test]
    fn the_compact_form_has_no_spaces() {
        // json.dumps({"b": [1, 2], "a": "é x", "c": {}}, sort_keys=True, separators=(",", ":"))
        let value = json!({"b": [1, 2], "a": "é x", "c": {}});
        let bytes = to_vec_compact(&value).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"a":"\u00e9 x","b":[1,2],"c":{}}"#
        );
    }
}
