//! The operations ssoflow calls, with their HTTP paths and retry rules.

/// An operation of the SSO OIDC service or of the SSO portal API: which
/// request a [`Transmit`](crate::Transmit) carries and which one an
/// [`Event::Retrying`](crate::Event::Retrying) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /client/register`
    RegisterClient,
    /// `POST /device_authorization`
    StartDeviceAuthorization,
    /// `POST /token`
    CreateToken,
    /// Portal: `GET /federation/credentials`
    GetRoleCredentials,
    /// Portal: `GET /assignment/accounts`
    ListAccounts,
    /// Portal: `GET /assignment/roles`
    ListAccountRoles,
    /// Portal: `POST /logout`
    Logout,
}

impl Operation {
    /// Every SSO OIDC operation, in flow order.
    pub const ALL: [Operation; 3] = [
        Operation::RegisterClient,
        Operation::StartDeviceAuthorization,
        Operation::CreateToken,
    ];

    /// Every SSO portal operation (`portal-api.md` §4–§7).
    pub const PORTAL: [Operation; 4] = [
        Operation::GetRoleCredentials,
        Operation::ListAccounts,
        Operation::ListAccountRoles,
        Operation::Logout,
    ];

    /// The request path, appended to the endpoint's base URL (and its path prefix).
    pub const fn path(self) -> &'static str {
        match self {
            Operation::RegisterClient => "/client/register",
            Operation::StartDeviceAuthorization => "/device_authorization",
            Operation::CreateToken => "/token",
            Operation::GetRoleCredentials => "/federation/credentials",
            Operation::ListAccounts => "/assignment/accounts",
            Operation::ListAccountRoles => "/assignment/roles",
            Operation::Logout => "/logout",
        }
    }

    /// The HTTP method: the portal reads with GET and logs out with POST;
    /// every OIDC operation is a POST.
    pub const fn method(self) -> &'static str {
        match self {
            Operation::GetRoleCredentials
            | Operation::ListAccounts
            | Operation::ListAccountRoles => "GET",
            _ => "POST",
        }
    }

    /// The operation's name in the service model.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::RegisterClient => "RegisterClient",
            Operation::StartDeviceAuthorization => "StartDeviceAuthorization",
            Operation::CreateToken => "CreateToken",
            Operation::GetRoleCredentials => "GetRoleCredentials",
            Operation::ListAccounts => "ListAccounts",
            Operation::ListAccountRoles => "ListAccountRoles",
            Operation::Logout => "Logout",
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
