//! The pieces of the authorization-code grant with PKCE (RFC 7636) that a
//! client and a server of the protocol share: the verifier and its S256
//! challenge, the `state` value, the loopback redirect URI and how a server
//! matches it, the `/authorize` URL, and the query-string codec
//! (`device-flow.md` §6, `wire-protocol.md` §7).
//!
//! [`AuthCodeFlow`](crate::AuthCodeFlow) uses them on the client side; the
//! simulated service checks what it receives with the same functions, so the
//! two cannot disagree on how a challenge is computed.

use sha2::{Digest, Sha256};

use crate::secret::CodeVerifier;

/// The path of the loopback redirect URI, as the AWS CLI registers it.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// The redirect URI the AWS CLI registers: loopback, no port. The one used at
/// `/authorize` and in the exchange adds the listener's port
/// ([`redirect_uri`]); the server matches loopback URIs whatever the port
/// (RFC 8252 §7.3, [`redirect_uri_matches`]).
pub const REGISTERED_REDIRECT_URI: &str = "http://127.0.0.1/oauth/callback";

/// The only challenge method ssoflow sends or accepts (RFC 7636 §4.2: a
/// client able to do S256 must use it).
pub const METHOD_S256: &str = "S256";

/// How many random bytes [`PkceSecrets::from_random`] takes: 32 for the
/// verifier (RFC 7636 §4.1's recommendation), 16 for the `state` UUID.
pub const RANDOM_BYTES: usize = 48;

/// The redirect URI a listener on `port` of 127.0.0.1 receives the callback at.
pub fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// The verifier and `state` of one authorization: both secret, both made
/// from randomness the caller passes in, so the core stays free of I/O and
/// tests are deterministic. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct PkceSecrets {
    verifier: CodeVerifier,
    state: String,
}

impl std::fmt::Debug for PkceSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PkceSecrets([redacted])")
    }
}

impl PkceSecrets {
    /// Secrets from [`RANDOM_BYTES`] bytes of a cryptographically secure
    /// source (e.g. `getrandom`): the verifier is the base64url form of the
    /// first 32 (43 characters), `state` a version 4 UUID made of the last 16.
    pub fn from_random(bytes: [u8; RANDOM_BYTES]) -> PkceSecrets {
        let (octets, rest) = bytes.split_at(32);
        PkceSecrets {
            verifier: verifier_from_octets(octets),
            state: uuid_v4(rest),
        }
    }

    /// The `code_verifier`, sent only in the token exchange.
    pub fn verifier(&self) -> &CodeVerifier {
        &self.verifier
    }

    /// The `code_challenge` for the `/authorize` URL.
    pub fn challenge(&self) -> String {
        code_challenge(self.verifier.secret())
    }

    /// The `state` the callback must carry back.
    pub(crate) fn state(&self) -> &str {
        &self.state
    }
}

/// A verifier made of raw octets: their unpadded base64url form (RFC 7636 §4.1).
pub(crate) fn verifier_from_octets(octets: &[u8]) -> CodeVerifier {
    CodeVerifier::new(base64url(octets))
}

/// `BASE64URL(SHA256(ASCII(verifier)))` without padding: 43 characters (RFC 7636 §4.2).
pub fn code_challenge(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

/// True for a verifier RFC 7636 §4.1 allows: 43 to 128 characters from
/// `A-Z a-z 0-9 - . _ ~`. A server refuses any other.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved)
}

/// Whether a redirect URI used at `/authorize` or in the exchange is allowed
/// by one registered for the client: the same string, or — for a loopback
/// `http` URI — the same but for the port (RFC 8252 §7.3: a native app's
/// listener gets whatever port the OS gives it).
pub fn redirect_uri_matches(registered: &str, used: &str) -> bool {
    if registered == used {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(used)) {
        (Some((host_a, path_a)), Some((host_b, path_b))) => host_a == host_b && path_a == path_b,
        _ => false,
    }
}

/// `(host, path)` of an `http://` loopback URI with an optional port and no
/// query or fragment; `None` for anything else.
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if path.contains(['?', '#']) || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inside, rest) = v6.split_once(']')?;
            (authority.get(..inside.len().saturating_add(2))?, rest)
        }
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    if !port.is_empty() && port.strip_prefix(':')?.parse::<u16>().is_err() {
        return None;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    loopback.then_some((host, path))
}

/// The `/authorize` URL with the query exactly as the AWS CLI builds it
/// (`wire-protocol.md` §7): every value percent-encoded, the challenge last
/// and unencoded (it is base64url, all unreserved anyway).
pub(crate) fn authorization_url(
    authorize_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
    scopes: &[String],
) -> String {
    format!(
        "{authorize_endpoint}?response_type=code&client_id={}&redirect_uri={}&state={}\
         &code_challenge_method={METHOD_S256}&scopes={}&code_challenge={challenge}",
        percent_encode(client_id),
        percent_encode(redirect_uri),
        percent_encode(state),
        percent_encode(&scopes.join(" ")),
    )
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// botocore's `percent_encode`: RFC 3986 unreserved characters as they are,
/// every other byte of the UTF-8 form as `%XX` (a space is `%20`).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a query string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// A parameter appears twice: the callback is ambiguous, so it is refused
    /// (RFC 6749 §3.1: request and response parameters must not repeat).
    Repeated(String),
    /// Longer than any real callback.
    TooLong,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::BadEscape => {
                f.write_str("a % in the query is not followed by two hex digits")
            }
            QueryError::NotUtf8 => f.write_str("the query does not decode to UTF-8"),
            QueryError::Repeated(name) => write!(f, "the parameter {name:?} appears twice"),
            QueryError::TooLong => write!(f, "the query is longer than {MAX_QUERY_LEN} bytes"),
        }
    }
}

impl std::error::Error for QueryError {}

/// The longest query string read; a real callback is well under 1 KiB.
pub const MAX_QUERY_LEN: usize = 8 * 1024;

/// Reads an `application/x-www-form-urlencoded` query (`a=1&b=x%20y`, `+`
/// as a space) into its pairs, in order. Empty segments are skipped; a
/// parameter without `=` has an empty value.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, QueryError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong);
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
        let name = percent_decode(name)?;
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(QueryError::Repeated(name));
        }
        pairs.push((name, percent_decode(value)?));
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Result<String, QueryError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i.saturating_add(1)..i.saturating_add(3));
                let value = hex
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(QueryError::BadEscape)?;
                out.push(value);
                i = i.saturating_add(3);
            }
            b'+' => {
                out.push(b' ');
                i = i.saturating_add(1);
            }
            _ => {
                out.push(b);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8)
}

/// Unpadded base64url (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let sextet = |n: u32, shift: u32| {
        let index = usize::try_from((n >> shift) & 63).unwrap_or(0);
        char::from(ALPHABET.get(index).copied().unwrap_or(b'A'))
    };
    let mut out = String::with_capacity(bytes.len().saturating_mul(4).div_ceil(3));
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sextet(n, 18));
        out.push(sextet(n, 12));
        if chunk.len() > 1 {
            out.push(sextet(n, 6));
        }
        if chunk.len() > 2 {
            out.push(sextet(n, 0));
        }
    }
    out
}

/// A version 4 UUID in canonical lower-case form from 16 random bytes (RFC 9562 §5.4).
fn uuid_v4(random: &[u8]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in random
        .iter()
        .chain(std::iter::repeat(&0))
        .take(16)
        .enumerate()
    {
        let byte = match i {
            6 => (byte & 0x0f) | 0x40,
            8 => (byte & 0x3f) | 0x80,
            _ => *byte,
        };
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b() {
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let verifier = verifier_from_octets(&octets);
        assert_eq!(
            verifier.secret(),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(
            code_challenge(verifier.secret()),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let mut random = [0u8; RANDOM_BYTES];
        random[..32].copy_from_slice(&octets);
        let secrets = PkceSecrets::from_random(random);
        assert_eq!(
            secrets.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_valid_verifier(secrets.verifier().secret()));
        assert_eq!(format!("{secrets:?}"), "PkceSecrets([redacted])");
    }

    #[test]
    fn state_is_a_canonical_uuid_v4() {
        let secrets = PkceSecrets::from_random([0xff; RANDOM_BYTES]);
        assert_eq!(secrets.state(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let secrets = PkceSecrets::from_random([0; RANDOM_BYTES]);
        assert_eq!(secrets.state(), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn base64url_lengths_and_alphabet() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn the_authorization_url_matches_the_spec_example_format() {
        let url = authorization_url(
            "https://oidc.us-east-1.amazonaws.com/authorize",
            "cBP-1Sc6dal96A6SKmYmoHVzLWVhc3QtMQ",
            "http://127.0.0.1:49152/oauth/callback",
            "8f14e45f-ceea-467f-a0e8-5b1f7c2a9e10",
            "1T7aemN8mcx_tWbZbp-hCb8VxHhBCj9etNTE4mzQgfY",
            &["sso:account:access".to_owned()],
        );
        assert_eq!(
            url,
            "https://oidc.us-east-1.amazonaws.com/authorize?response_type=code&client_id=cBP-1Sc6dal96A6SKmYmoHVzLWVhc3QtMQ&redirect_uri=http%3A%2F%2F127.0.0.1%3A49152%2Foauth%2Fcallback&state=8f14e45f-ceea-467f-a0e8-5b1f7c2a9e10&code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess&code_challenge=1T7aemN8mcx_tWbZbp-hCb8VxHhBCj9etNTE4mzQgfY"
        );
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn query_parsing() {
        assert_eq!(
            parse_query("code=a%2Bb&state=x+y&flag&&").unwrap(),
            vec![
                ("code".into(), "a+b".into()),
                ("state".into(), "x y".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(parse_query("a=%4"), Err(QueryError::BadEscape));
        assert_eq!(parse_query("a=%zz"), Err(QueryError::BadEscape));
        assert_eq!(parse_query("a=%ff"), Err(QueryError::NotUtf8));
        assert_eq!(
            parse_query("state=1&state=2"),
            Err(QueryError::Repeated("state".into()))
        );
        assert_eq!(
            parse_query(&"a".repeat(MAX_QUERY_LEN + 1)),
            Err(QueryError::TooLong)
        );
    }

    #[test]
    fn loopback_redirects_match_whatever_the_port() {
        let registered = REGISTERED_REDIRECT_URI;
        assert!(redirect_uri_matches(registered, &redirect_uri(49152)));
        assert!(redirect_uri_matches(registered, registered));
        assert!(redirect_uri_matches(
            "http://[::1]/oauth/callback",
            "http://[::1]:8080/oauth/callback"
        ));
        for used in [
            "http://127.0.0.1:49152/other",
            "http://127.0.0.2:49152/oauth/callback",
            "http://localhost:49152/oauth/callback",
            "https://127.0.0.1:49152/oauth/callback",
            "http://127.0.0.1:49152/oauth/callback?x=1",
            "http://127.0.0.1:49152@evil.example/oauth/callback",
            "http://127.0.0.1:notaport/oauth/callback",
            "http://evil.example/oauth/callback",
        ] {
            assert!(!redirect_uri_matches(registered, used), "{used}");
        }
        // A non-loopback URI must match exactly.
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
    }
}
