//! The little HTTP a loopback listener speaks to the browser, as pure
//! functions: find the request target in a request head, and render the
//! answer to a [`CallbackReply`]. Both drivers' listeners use them around
//! their own sockets, so they answer alike.
//!
//! ```
//! use ssoflow_core::CallbackReply;
//! use ssoflow_core::loopback::{head_complete, request_target, response};
//!
//! let head = b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:49152\r\n\r\n";
//! assert!(head_complete(head));
//! assert_eq!(request_target(head), Some("/favicon.ico"));
//! let answer = response(Some(&CallbackReply::NotFound));
//! assert!(answer.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
//! ```

use crate::authcode::CallbackReply;

/// The longest request head read; a browser's callback is well under 4 KiB.
pub const MAX_HEAD_LEN: usize = 16 * 1024;

/// Whether `buf` holds a whole request head (up to the empty line).
pub fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

/// The target (path and query) of a `GET` request head, or `None` for any
/// other method or a request line that is not HTTP/1.x.
pub fn request_target(head: &[u8]) -> Option<&str> {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = std::str::from_utf8(head.get(..line_end)?).ok()?;
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = parts.next().is_none()
        && method == "GET"
        && target.starts_with('/')
        && version.starts_with("HTTP/1.");
    well_formed.then_some(target)
}

/// The whole HTTP/1.1 response for a request the flow judged (`reply`), or
/// for one that could not be read (`None`): a short page that says what
/// happened. It closes the connection, forbids caching, and sends no
/// `Referer` onwards, so the code in the URL goes nowhere else.
pub fn response(reply: Option<&CallbackReply>) -> Vec<u8> {
    let (status, outcome, title, text) = match reply {
        Some(CallbackReply::Accepted) => (
            "200 OK",
            "accepted",
            "Sign-in approved",
            "ssoflow received the approval and is finishing the sign-in. You can close this tab \
             and go back to the terminal."
                .to_owned(),
        ),
        Some(CallbackReply::Denied) => (
            "200 OK",
            "denied",
            "Sign-in denied",
            "The sign-in was denied. You can close this tab.".to_owned(),
        ),
        Some(CallbackReply::Failed(error)) => (
            "400 Bad Request",
            "failed",
            "Sign-in failed",
            format!("The sign-in failed: {error}."),
        ),
        Some(CallbackReply::Refused(why)) => (
            "400 Bad Request",
            "refused",
            "Not this sign-in",
            format!(
                "This link does not belong to the sign-in ssoflow is waiting for ({why}); it was \
                 ignored. Finish the sign-in from the page ssoflow opened."
            ),
        ),
        Some(CallbackReply::NotWaiting) => (
            "409 Conflict",
            "not-waiting",
            "No sign-in is waiting",
            "ssoflow is not waiting for a sign-in here any more. You can close this tab."
                .to_owned(),
        ),
        Some(CallbackReply::NotFound) => (
            "404 Not Found",
            "not-found",
            "Not found",
            "Nothing is served here.".to_owned(),
        ),
        None => (
            "400 Bad Request",
            "bad-request",
            "Bad request",
            "The request could not be read.".to_owned(),
        ),
    };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title></head>\n\
         <body style=\"font-family:sans-serif;max-width:36em;margin:4em auto\">\
         <h1>{title}</h1>\n<p id=\"result\" data-outcome=\"{outcome}\">{}</p></body></html>\n",
        escape_html(&text)
    );
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlowError;

    #[test]
    fn request_lines() {
        assert_eq!(
            request_target(b"GET /oauth/callback?code=a&state=b HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some("/oauth/callback?code=a&state=b")
        );
        assert_eq!(request_target(b"GET / HTTP/1.0\n\n"), Some("/"));
        for bad in [
            &b"POST /oauth/callback HTTP/1.1\r\n\r\n"[..],
            b"GET http://evil/ HTTP/1.1\r\n\r\n",
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"GET /a\r\n\r\n",
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(request_target(bad), None, "{bad:?}");
        }
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(head_complete(b"GET / HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn pages_escape_and_say_what_happened() {
        let page = response(Some(&CallbackReply::Failed(
            FlowError::AuthorizationError {
                error: "<script>".into(),
                description: None,
            },
        )));
        let text = String::from_utf8(page).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("&lt;script&gt;") && !text.contains("<script>"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let ok = String::from_utf8(response(Some(&CallbackReply::Accepted))).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK") && ok.contains("close this tab"));
        let bad = String::from_utf8(response(None)).unwrap();
        assert!(bad.starts_with("HTTP/1.1 400 Bad Request") && bad.contains("bad-request"));
    }
}
