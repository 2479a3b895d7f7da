//! The operations ssoflow calls, with their HTTP paths and retry rules.

/// An operation of the SSO OIDC service: which request a [`Transmit`](crate::Transmit)
/// carries and which one an [`Event::Retrying`](crate::Event::Retrying) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /client/register`
    RegisterClient,
    /// `POST /device_authorization`
    StartDeviceAuthorization,
    /// `POST /token`
    CreateToken,
}

impl Operation {
    /// Every operation, in flow order.
    pub const ALL: [Operation; 3] = [
        Operation::RegisterClient,
        Operation::StartDeviceAuthorization,
        Operation::CreateToken,
    ];

    /// The request path, appended to the endpoint's base URL (and its path prefix).
    pub const fn path(self) -> &'static str {
        match self {
            Operation::RegisterClient => "/client/register",
            Operation::StartDeviceAuthorization => "/device_authorization",
            Operation::CreateToken => "/token",
        }
    }

    /// The operation's name in the service model.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::RegisterClient => "RegisterClient",
            Operation::StartDeviceAuthorization => "StartDeviceAuthorization",
            Operation::CreateToken => "CreateToken",
        }
    }

    /// Whether the same request may be sent again after the service accepted
    /// it (a 2xx) but its answer could not be read. RegisterClient and
    /// StartDeviceAuthorization only create something new each time; a
    /// CreateToken spends its grant (a device code is good for one token, and
    /// a refresh token may be rotated), so sending it again cannot succeed
    /// and would hide the real cause behind `invalid_grant`.
    pub(crate) const fn may_resend_after_success(self) -> bool {
        !matches!(self, Operation::CreateToken)
    }
}
