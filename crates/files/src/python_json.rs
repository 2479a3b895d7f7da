//! JSON laid out byte for byte as Python's `json.dumps` does by default: `", "`
//! between members, `": "` after keys, every non-ASCII character escaped as
//! `\uXXXX` (surrogate pairs above U+FFFF). The AWS CLI writes its token
//! files this way and hashes this form of its registration-cache key, so the
//! same bytes are needed both to write files the CLI would write and to find
//! its registrations (`aws-cli-compat.md` §4.3, §5.1).

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// Serializes `value` in `json.dumps` layout. Key order is the value's own:
/// a struct's field order, or a `serde_json::Map`'s (sorted, without the
/// `preserve_order` feature, which is what `sort_keys=True` needs).
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut serializer = Serializer::with_formatter(&mut bytes, PythonFormatter);
    value.serialize(&mut serializer)?;
    Ok(bytes)
}

struct PythonFormatter;

/// Python's item separator, `", "`, before every member or element but the first.
fn separator<W: ?Sized + io::Write>(writer: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json has already escaped quotes, backslashes and control
        // characters; what is left to do is ensure_ascii.
        let mut start = 0;
        for (index, c) in fragment.char_indices() {
            if c.is_ascii() {
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
    }
}
