//! The random values the simulated service issues, shaped like the real
//! service's (`wire-protocol.md` §12), all drawn from the operating system's
//! CSPRNG so that an emulator reachable over HTTP hands out unguessable secrets.

/// The operating system's random number generator failed; the service answers
/// such a request with a 500 rather than issuing a guessable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator is unavailable")]
pub(crate) struct RandomUnavailable;

/// The alphabet of user codes: the 20 consonants RFC 8628 §6.1 suggests, which
/// the real service's samples are consistent with. No vowels, so no words.
pub(crate) const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Letters on each side of the dash in a user code (`PMPJ-VZCJ`).
const USER_CODE_HALF: usize = 4;

/// The largest multiple of the alphabet size that fits in a byte (12 × 20).
/// Bytes at or above it are thrown away, so every letter is equally likely.
const USER_CODE_ACCEPT_BELOW: u8 = 240;

/// The region the real service encodes after the random part of a client id.
const CLIENT_ID_REGION: &[u8] = b"us-east-1";

/// The JOSE header the real service's client secrets start with,
/// `{"kid":"key-1566968136","alg":"HS384"}`, base64url-encoded.
const CLIENT_SECRET_HEADER: &str = "eyJraWQiOiJrZXktMTU2Njk2ODEzNiIsImFsZyI6IkhTMzg0In0";

fn random_bytes(len: usize) -> Result<Vec<u8>, RandomUnavailable> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|_| RandomUnavailable)?;
    Ok(bytes)
}

/// The base64 alphabet of RFC 4648 §5 (URL-safe).
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The base64 alphabet of RFC 4648 §4 (standard), which AWS secret keys and
/// session tokens are written in: with `+` and `/`, so a client that forgets
/// to escape them in a URL, a shell or a file shows it.
const BASE64_STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The alphabet of access key ids after their `ASIA` prefix.
const KEY_ID_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The largest multiple of 36 that fits in a byte (7 × 36); bytes at or above
/// it are thrown away so that every character of a key id is equally likely.
const KEY_ID_ACCEPT_BELOW: u8 = 252;

/// Characters of a key id after `ASIA`; AWS key ids are 20 characters long.
const KEY_ID_RANDOM_LEN: usize = 16;

/// The length of an AWS secret access key.
const SECRET_KEY_LEN: usize = 40;

/// How every STS-issued session token begins (the base64 of a fixed header);
/// kept so that tools sniffing for it recognise ours.
const SESSION_TOKEN_PREFIX: &str = "IQoJb3JpZ2luX2Vj";

/// Random bytes in a session token: 750 bytes are 1,000 base64 characters
/// without padding, so the token is about as long as the portal's, which are
/// notably longer than STS AssumeRole tokens (`portal-api.md` §4).
const SESSION_TOKEN_BYTES: usize = 750;

/// Unpadded base64url (RFC 4648 §5), the encoding of every opaque value here.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    base64(bytes, BASE64URL)
}

/// Unpadded base64 of `bytes` over `alphabet`.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let group = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        // A chunk of n bytes yields n + 1 significant characters.
        for i in 0..=chunk.len() {
            let sextet = (group >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(alphabet[sextet as usize]));
        }
    }
    out
}

/// A client id: 16 random bytes followed by the region name, base64url-encoded
/// into 34 characters, as the real service's ids decode.
pub(crate) fn client_id() -> Result<String, RandomUnavailable> {
    let mut bytes = random_bytes(16)?;
    bytes.extend_from_slice(CLIENT_ID_REGION);
    Ok(base64url(&bytes))
}

/// A client secret shaped like the real one: a JWS-like `header.payload.signature`
/// of about 1 KiB, so request bodies carrying it exceed 1 KB as they do in reality.
pub(crate) fn client_secret() -> Result<String, RandomUnavailable> {
    let payload = base64url(&random_bytes(720)?);
    let signature = base64url(&random_bytes(48)?);
    Ok(format!("{CLIENT_SECRET_HEADER}.{payload}.{signature}"))
}

/// A device code: 64 random bytes as 86 base64url characters.
pub(crate) fn device_code() -> Result<String, RandomUnavailable> {
    Ok(base64url(&random_bytes(64)?))
}

/// An access token with the real service's `aoa` prefix.
pub(crate) fn access_token() -> Result<String, RandomUnavailable> {
    Ok(format!("aoa{}", base64url(&random_bytes(192)?)))
}

/// A refresh token with the real service's `aor` prefix.
pub(crate) fn refresh_token() -> Result<String, RandomUnavailable> {
    Ok(format!("aor{}", base64url(&random_bytes(192)?)))
}

/// An authorization code: 32 random bytes as 43 base64url characters (the
/// real service's format is not documented; only its unguessability matters).
pub(crate) fn authorization_code() -> Result<String, RandomUnavailable> {
    Ok(base64url(&random_bytes(32)?))
}

/// The id of an `/authorize` request waiting for a person: 16 random bytes as
/// 22 base64url characters. Unguessable, because the consent form posts it back.
pub(crate) fn authorization_request_id() -> Result<String, RandomUnavailable> {
    Ok(base64url(&random_bytes(16)?))
}

/// A portal session: one sign-in, which every token minted from it (through
/// refreshes) belongs to, and which Logout ends. 16 random bytes, base64url.
pub(crate) fn session_id() -> Result<String, RandomUnavailable> {
    Ok(base64url(&random_bytes(16)?))
}

/// A temporary access key id: `ASIA` and 16 characters of `A-Z0-9`, drawn
/// without bias by rejection sampling (as the user codes are).
pub(crate) fn access_key_id() -> Result<String, RandomUnavailable> {
    let mut id = String::from("ASIA");
    while id.len() < 4 + KEY_ID_RANDOM_LEN {
        for byte in random_bytes(KEY_ID_RANDOM_LEN)? {
            if byte < KEY_ID_ACCEPT_BELOW && id.len() < 4 + KEY_ID_RANDOM_LEN {
                id.push(char::from(KEY_ID_ALPHABET[usize::from(byte % 36)]));
            }
        }
    }
    Ok(id)
}

/// A secret access key: 40 characters of standard base64 (each from 6 bits of
/// one random byte, so unbiased).
pub(crate) fn secret_access_key() -> Result<String, RandomUnavailable> {
    Ok(random_bytes(SECRET_KEY_LEN)?
        .into_iter()
        .map(|byte| char::from(BASE64_STANDARD[usize::from(byte & 0x3f)]))
        .collect())
}

/// A role session token: the STS prefix and 1,000 characters of standard base64.
pub(crate) fn session_token() -> Result<String, RandomUnavailable> {
    Ok(format!(
        "{SESSION_TOKEN_PREFIX}{}",
        base64(&random_bytes(SESSION_TOKEN_BYTES)?, BASE64_STANDARD)
    ))
}

/// A user code `XXXX-XXXX` over [`USER_CODE_ALPHABET`], unbiased by rejection
/// sampling: a byte is used only if it is below 240, then reduced modulo 20.
pub(crate) fn user_code() -> Result<String, RandomUnavailable> {
    let mut letters = Vec::with_capacity(2 * USER_CODE_HALF);
    while letters.len() < 2 * USER_CODE_HALF {
        // 16 bytes nearly always suffice (each is kept with probability 15/16).
        for byte in random_bytes(16)? {
            if byte < USER_CODE_ACCEPT_BELOW && letters.len() < 2 * USER_CODE_HALF {
                letters.push(char::from(USER_CODE_ALPHABET[usize::from(byte % 20)]));
            }
        }
    }
    let (first, second) = letters.split_at(USER_CODE_HALF);
    Ok(format!(
        "{}-{}",
        first.iter().collect::<String>(),
        second.iter().collect::<String>()
    ))
}

/// A request id in the canonical form of a random (version 4) UUID, as the real
/// service sends in `x-amzn-RequestId`.
pub(crate) fn request_id() -> Result<String, RandomUnavailable> {
    let mut b = random_bytes(16)?;
    if let Some(version) = b.get_mut(6) {
        *version = (*version & 0x0f) | 0x40; // version 4: random
    }
    if let Some(variant) = b.get_mut(8) {
        *variant = (*variant & 0x3f) | 0x80; // the RFC 9562 variant
    }
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        // RFC 4648 §10, without padding, in the URL-safe alphabet.
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url(input.as_bytes()), expected);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(
            base64url(br#"{"kid":"key-1566968136","alg":"HS384"}"#),
            CLIENT_SECRET_HEADER
        );
    }

    #[test]
    fn opaque_values_have_the_real_shapes() {
        let id = client_id().unwrap();
        assert_eq!(id.len(), 34);
        assert!(id.ends_with("VzLWVhc3QtMQ"), "{id}"); // "us-east-1"
        assert_eq!(device_code().unwrap().len(), 86);
        let secret = client_secret().unwrap();
        assert!(secret.len() > 1000 && secret.starts_with("eyJraWQi"));
        assert_eq!(secret.split('.').count(), 3);
        assert!(access_token().unwrap().starts_with("aoa"));
        assert!(refresh_token().unwrap().starts_with("aor"));
        for value in [id, secret, device_code().unwrap(), access_token().unwrap()] {
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "{value}"
            );
        }
        assert_ne!(device_code().unwrap(), device_code().unwrap());
    }

    #[test]
    fn role_credentials_have_the_real_shapes() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let id = access_key_id().unwrap();
            assert_eq!(id.len(), 20, "{id}");
            assert!(id.starts_with("ASIA"), "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "{id}"
            );
            seen.extend(id.bytes().skip(4));
        }
        assert_eq!(seen.len(), 36, "every letter and digit is drawn");
        let secret = secret_access_key().unwrap();
        assert_eq!(secret.len(), 40);
        assert!(
            secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        );
        let token = session_token().unwrap();
        assert_eq!(token.len(), 16 + 1000);
        assert!(token.starts_with("IQoJb3JpZ2luX2Vj"));
        assert_ne!(session_token().unwrap(), token);
        assert_eq!(base64(b"\xfb\xff", BASE64_STANDARD), "+/8");
        assert_eq!(session_id().unwrap().len(), 22);
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        for _ in 0..100 {
            let id = request_id().unwrap();
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
            assert!(!id.bytes().any(|b| b.is_ascii_uppercase()));
            assert!(groups[2].starts_with('4'), "{id}");
            assert!("89ab".contains(&groups[3][..1]), "{id}");
        }
    }

    #[test]
    fn user_codes_use_the_alphabet_and_every_letter() {
        let mut seen = [0u32; 20];
        for _ in 0..2000 {
            let code = user_code().unwrap();
            assert_eq!(code.len(), 9);
            assert_eq!(code.as_bytes()[4], b'-');
            for (i, b) in code.bytes().enumerate() {
                if i == 4 {
                    continue;
                }
                let pos = USER_CODE_ALPHABET.iter().position(|&a| a == b);
                let pos = pos.unwrap_or_else(|| panic!("{code} has a letter outside the alphabet"));
                seen[pos] += 1;
            }
        }
        // 16 000 letters, 800 expected per letter; a biased or broken sampler
        // (e.g. one that never yields the last letters) falls far outside this.
        for (letter, count) in USER_CODE_ALPHABET.iter().zip(seen) {
            assert!(
                (600..1000).contains(&count),
                "{} drawn {count} times",
                char::from(*letter)
            );
        }
    }
}
