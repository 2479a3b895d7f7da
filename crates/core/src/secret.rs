//! The values that must never be printed: client secrets, device codes,
//! access and refresh tokens, PKCE verifiers and authorization codes, role
//! credentials' secret keys and session tokens.
//!
//! Each type wraps an opaque string, serialises as that plain string (so wire
//! types can hold it directly), prints `[redacted]` under `Debug`, has no
//! `Display`, and gives its value only through an explicit `.secret()` call.

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value received from the service or read from a cache.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself; call this only where it goes on the wire or to disk.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// The `clientSecret` of a registration: whoever holds it can start flows as this client.
    ClientSecret
);
secret_type!(
    /// The `deviceCode` of a pending authorization: whoever holds it can collect the token.
    DeviceCode
);
secret_type!(
    /// A bearer `accessToken` for the AWS access portal.
    AccessToken
);
secret_type!(
    /// A `refreshToken` that mints new access tokens until the portal session ends.
    RefreshToken
);
secret_type!(
    /// A PKCE `codeVerifier` sent with the authorization-code grant.
    CodeVerifier
);
secret_type!(
    /// The `secretAccessKey` of role credentials from the SSO portal.
    SecretAccessKey
);
secret_type!(
    /// The `sessionToken` of role credentials from the SSO portal.
    SessionToken
);
secret_type!(
    /// The `code` the browser brings back to the loopback listener: with the
    /// verifier, it is exchanged for a token.
    AuthorizationCode
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_serde_is_transparent() {
        let s = AccessToken::new("aoa-very-secret");
        assert_eq!(format!("{s:?}"), "AccessToken([redacted])");
        assert_eq!(s.secret(), "aoa-very-secret");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"aoa-very-secret\"");
        let back: AccessToken = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
