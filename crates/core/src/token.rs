//! What a sign-in produces and what must be kept: the client registration and
//! the token. Their wall-clock times come from the `SystemTime` the caller
//! handed in with the answer; nothing in core reads a clock.

use std::time::{Duration, SystemTime};

use crate::secret::{AccessToken, ClientSecret, RefreshToken};

/// A registration is reused only while at least this much of it is left (the
/// AWS CLI's margin, `aws-cli-compat.md` §5.3).
pub(crate) const REGISTRATION_REUSE_MARGIN: Duration = Duration::from_secs(15 * 60);

/// A client registration (RegisterClient's result), worth caching for reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: ClientSecret,
    /// When id and secret stop working (`clientSecretExpiresAt`).
    pub expires_at: SystemTime,
    /// The scopes registered; tokens carry these.
    pub scopes: Vec<String>,
    /// The `grantTypes` it was registered with: empty for a device-flow
    /// registration (the AWS CLI sends none), `authorization_code` and
    /// `refresh_token` for one made for the authorization-code grant. Each
    /// flow reuses only registrations made for it (`aws-cli-compat.md` §5.3).
    pub grant_types: Vec<String>,
}

impl Registration {
    /// True while at least 15 minutes are left at `wall_now` (the AWS CLI's
    /// margin for reusing a cached registration).
    pub fn is_reusable_at(&self, wall_now: SystemTime) -> bool {
        self.expires_at
            .duration_since(wall_now)
            .is_ok_and(|left| left >= REGISTRATION_REUSE_MARGIN)
    }

    /// True when it was registered for the authorization-code grant (its
    /// `grantTypes` name `authorization_code`): only the authorization-code
    /// flow reuses it, and only such a registration serves that flow.
    pub fn is_for_authorization_code(&self) -> bool {
        self.grant_types
            .iter()
            .any(|g| g == crate::wire::GRANT_AUTHORIZATION_CODE)
    }
}

/// An access token with what it takes to refresh it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The bearer token.
    pub access_token: AccessToken,
    /// Present when the registration has scopes; `None` means "sign in again at expiry".
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires (receipt time + `expiresIn`).
    pub expires_at: SystemTime,
    /// The registration that obtained the token; refresh needs it.
    pub registration: Registration,
}

impl Token {
    /// Time left at `wall_now`; zero once expired.
    pub fn remaining_at(&self, wall_now: SystemTime) -> Duration {
        self.expires_at
            .duration_since(wall_now)
            .unwrap_or(Duration::ZERO)
    }
}
