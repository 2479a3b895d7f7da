//! Reading fuzz input: a byte cursor for the binary parts, and a small
//! HTTP-like text head (first line, `name: value` lines, a blank line, then
//! the body) so that seeds can be written by hand from the spec's examples.

/// Takes bytes from the front of the input; reads past the end give zeros.
pub(crate) struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    /// Two bytes, big-endian (so a hand-written seed reads naturally in hex).
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (taken, rest) = self.data.split_at(n);
        self.data = rest;
        taken
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// `first line \n (name: value \n)* \n body`. Lines may end in `\r\n`. Without
/// a blank line, everything after the first line is headers and the body is empty.
pub(crate) struct Head<'a> {
    pub(crate) first_line: &'a [u8],
    pub(crate) headers: Vec<(&'a [u8], &'a [u8])>,
    pub(crate) body: &'a [u8],
}

/// At most this many header lines are read; the rest of the head is ignored.
const MAX_HEADERS: usize = 32;

fn next_line<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    if data.is_empty() {
        return None;
    }
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (*data, &data[data.len()..]),
    };
    *data = rest;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s
        && first.is_ascii_whitespace()
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && last.is_ascii_whitespace()
    {
        s = rest;
    }
    s
}

pub(crate) fn split_head(mut data: &[u8]) -> Head<'_> {
    let first_line = next_line(&mut data).unwrap_or_default();
    let mut headers = Vec::new();
    while let Some(line) = next_line(&mut data) {
        if line.is_empty() {
            break;
        }
        if headers.len() < MAX_HEADERS {
            let (name, value) = match line.iter().position(|&b| b == b':') {
                Some(i) => (&line[..i], &line[i + 1..]),
                None => (line, &line[line.len()..]),
            };
            headers.push((trim(name), trim(value)));
        }
    }
    Head {
        first_line,
        headers,
        body: data,
    }
}

/// The HTTP status a first line names: its leading digits if they make a
/// status (100–999, what `http` accepts), else those digits folded into range.
pub(crate) fn status_of(first_line: &[u8]) -> http::StatusCode {
    let digits: u64 = trim(first_line)
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .take(12)
        .fold(0, |n, b| n * 10 + u64::from(b - b'0'));
    let code = if (100..=999).contains(&digits) {
        digits
    } else {
        100 + digits % 900
    };
    http::StatusCode::from_u16(u16::try_from(code).unwrap_or(500))
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// Adds the head's headers that `http` accepts; the others are dropped, as an
/// HTTP client would refuse them before they reached the flow.
pub(crate) fn add_headers(map: &mut http::HeaderMap, head: &Head<'_>) {
    for (name, value) in &head.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
}

/// Whether `needle` occurs in `haystack` (bytes).
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_split_as_written() {
        let head = split_head(b"400\r\nx-amzn-ErrorType: A:b\nbad header\n\n{\"x\":1}\n");
        assert_eq!(head.first_line, b"400");
        assert_eq!(head.headers.len(), 2);
        assert_eq!(head.headers[0], (&b"x-amzn-ErrorType"[..], &b"A:b"[..]));
        assert_eq!(head.body, b"{\"x\":1}\n");
        assert_eq!(status_of(b"400"), 400);
        assert_eq!(status_of(b"99"), 199);
        assert_eq!(status_of(b""), 100);
        assert_eq!(
            status_of(b"99999999999999999999"),
            (100 + 999_999_999_999u64 % 900) as u16
        );
    }
}
