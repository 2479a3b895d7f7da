//! The SSO portal API (`portal-api.md` §2–§8) on the service's side:
//! GetRoleCredentials, ListAccounts, ListAccountRoles and Logout, checked
//! against the access tokens this service issued, with the person's account
//! and role assignments from [`ServiceConfig::accounts`](super::ServiceConfig::accounts).
//!
//! Every answer is in the portal's own format (`__type` and `message`, built
//! by the core's [`portal_error_response`]), never the OIDC one. A request is
//! checked in this order, and the first fault answered: the rate limit (429),
//! the bearer token (401), the query (400), the assignment (403). Checking
//! the token before the parameters means a caller without a valid token
//! learns nothing about what the service would accept; the real order is
//! unconfirmed.
//!
//! The query is decoded with `serde_urlencoded`, as `/authorize`'s is: `%XX`
//! escapes are decoded, and so is `+`, to a space, as form decoding (and
//! AWS's own query parsers) do. Clients escape `+` as `%2B` (botocore does,
//! §15.6), so a client that sends a raw `+` gets a different value back — a
//! 403 or a 400, which is what such a client bug deserves.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use ssoflow_core::Operation;
use ssoflow_core::portal::{PortalError, PortalErrorCode, portal_error_response};
use ssoflow_core::secret::{SecretAccessKey, SessionToken};
use ssoflow_core::wire::{
    self, AccountInfo, BEARER_TOKEN_HEADER, CONTENT_TYPE_JSON, GetRoleCredentialsResponse,
    ListAccountRolesResponse, ListAccountsResponse, PORTAL_MAX_RESULT, RoleCredentialsBody,
    RoleInfo, portal_query,
};

use super::authorize::shown;
use super::{AccessGrant, Response, Service, json_response, later, random};

/// The portal's answer to an unknown, expired or revoked access token
/// (`portal-api.md` §8.1, as observed).
pub(super) const UNAUTHORIZED_MESSAGE: &str = "Session token not found or invalid";

/// The portal's answer to a role that is not assigned (§8.1, as observed).
pub(super) const FORBIDDEN_MESSAGE: &str = "No access";

/// The portal's throttling message (§8.1, as observed).
pub(super) const THROTTLED_MESSAGE: &str = "HTTP 429 Unknown Code";

/// The portal's answer to a page size outside 1–100 (§5, as observed).
pub(super) const RESULT_SIZE_MESSAGE: &str =
    "ResultSize parameter must be within the valid limits of: 1-100";

/// The shape of the 405 answer to a portal path called with another method,
/// as for the OIDC paths.
const METHOD_NOT_ALLOWED: &str = "MethodNotAllowedException";

/// The shape of an injected 5xx (or other unnamed status) on a portal path.
const INTERNAL_SERVER: &str = "InternalServerException";

/// What the rate limit counts over: requests in the last second.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// One account the signed-in person is assigned to, with the roles
/// (permission sets) they may use in it; see [`ServiceConfig::accounts`](super::ServiceConfig::accounts).
/// Its serde form is the emulator's `--accounts` file entry:
/// `{"accountId": "111122223333", "accountName": "Dev", "emailAddress":
/// "dev@example.com", "roles": ["ReadOnlyAccess"]}` (name and email optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortalAccount {
    /// The account id, usually 12 digits (the model sets no pattern).
    pub account_id: String,
    /// The display name; the real service sometimes has none (§5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// The root email address; the real service sometimes has none (§5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    /// The permission set names the person may use here, in the order
    /// ListAccountRoles lists them.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl PortalAccount {
    /// An account with these roles and no name or email address.
    pub fn new(
        account_id: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> PortalAccount {
        PortalAccount {
            account_id: account_id.into(),
            account_name: None,
            email_address: None,
            roles: roles.into_iter().map(Into::into).collect(),
        }
    }
}

/// The default assignments: two accounts with two roles each, one role in
/// both, shaped like the spec's example bodies (§15.5).
pub(super) fn default_accounts() -> Vec<PortalAccount> {
    let account = |id: &str, name: &str, email: &str, roles: [&str; 2]| PortalAccount {
        account_name: Some(name.to_owned()),
        email_address: Some(email.to_owned()),
        ..PortalAccount::new(id, roles)
    };
    vec![
        account(
            "111122223333",
            "Dev",
            "dev@example.com",
            ["AdministratorAccess", "ReadOnlyAccess"],
        ),
        account(
            "444455556666",
            "Prod",
            "prod@example.com",
            ["ReadOnlyAccess", "Billing"],
        ),
    ]
}

/// Whether `operation` belongs to the portal API rather than SSO OIDC.
pub(super) fn is_portal(operation: Operation) -> bool {
    Operation::PORTAL.contains(&operation)
}

/// The portal error for an injected [`Fault::Status`](super::Fault::Status):
/// the portal's own error where it has one for that status (400, 401, 403,
/// 404, 429, with the real service's messages), else an
/// `InternalServerException` with the status as given (a number that is no
/// HTTP status is sent as 400, as on the OIDC paths).
pub(super) fn injected_status(status: u16) -> PortalError {
    let code = match status {
        400 => PortalErrorCode::InvalidRequest,
        401 => PortalErrorCode::Unauthorized,
        403 => PortalErrorCode::Forbidden,
        404 => PortalErrorCode::ResourceNotFound,
        429 => PortalErrorCode::TooManyRequests,
        other if !(100..=999).contains(&other) => PortalErrorCode::InvalidRequest,
        _ => PortalErrorCode::Other(INTERNAL_SERVER.to_owned()),
    };
    let message = usual_message(&code).map_or_else(
        || format!("The service failed to process the request (injected HTTP {status})"),
        str::to_owned,
    );
    let status = match code {
        PortalErrorCode::Other(_) => status,
        ref known => known.status(),
    };
    PortalError {
        code,
        status,
        message: Some(message),
    }
}

/// The portal error for an injected [`Fault::Error`](super::Fault::Error),
/// whose code is an OIDC one: the portal error of the same shape name when
/// the portal has one (`InvalidRequestException`, or a portal shape given by
/// name, such as `TooManyRequestsException`), else that shape with the OIDC
/// code's status, both in the portal's format.
pub(super) fn injected_error(code: &ssoflow_core::ErrorCode) -> PortalError {
    let shape = code.shape();
    let known = [
        PortalErrorCode::Unauthorized,
        PortalErrorCode::Forbidden,
        PortalErrorCode::TooManyRequests,
        PortalErrorCode::ResourceNotFound,
        PortalErrorCode::InvalidRequest,
    ]
    .into_iter()
    .find(|portal| portal.shape() == shape);
    match known {
        Some(portal) => {
            let message = usual_message(&portal)
                .map_or_else(|| format!("{shape} (injected fault)"), str::to_owned);
            PortalError::new(portal, message)
        }
        None => PortalError {
            code: PortalErrorCode::Other(shape.to_owned()),
            status: ssoflow_core::server::status_of(code),
            message: Some(format!("{shape} (injected fault)")),
        },
    }
}

/// The real service's message for the errors it has been seen sending.
fn usual_message(code: &PortalErrorCode) -> Option<&'static str> {
    match code {
        PortalErrorCode::Unauthorized => Some(UNAUTHORIZED_MESSAGE),
        PortalErrorCode::Forbidden => Some(FORBIDDEN_MESSAGE),
        PortalErrorCode::TooManyRequests => Some(THROTTLED_MESSAGE),
        _ => None,
    }
}

/// The 405 answer to a portal path called with the wrong method, with `Allow`.
pub(super) fn wrong_method(operation: Operation, method: &http::Method) -> Response {
    let mut response = portal_error_response(&PortalError {
        code: PortalErrorCode::Other(METHOD_NOT_ALLOWED.to_owned()),
        status: 405,
        message: Some(format!(
            "{} takes {}, not {method}",
            operation.name(),
            operation.method()
        )),
    });
    response.headers_mut().insert(
        http::header::ALLOW,
        http::HeaderValue::from_static(operation.method()),
    );
    response
}

fn unauthorized() -> PortalError {
    PortalError::new(PortalErrorCode::Unauthorized, UNAUTHORIZED_MESSAGE)
}

fn invalid_request(message: impl Into<String>) -> PortalError {
    PortalError::new(PortalErrorCode::InvalidRequest, message)
}

/// The decoded query string of a portal request.
struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes the query; a parameter this API knows that appears twice is
    /// refused (400), as no client sends that and picking one would hide the
    /// bug. Unknown parameters are ignored.
    fn parse(raw: Option<&str>) -> Result<Query, PortalError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
            .map_err(|error| {
                invalid_request(format!("The query string cannot be decoded: {error}"))
            })?;
        for name in [
            portal_query::ROLE_NAME,
            portal_query::ACCOUNT_ID,
            portal_query::MAX_RESULT,
            portal_query::NEXT_TOKEN,
        ] {
            if pairs.iter().filter(|(key, _)| key == name).count() > 1 {
                return Err(invalid_request(format!(
                    "The {name} parameter appears more than once"
                )));
            }
        }
        Ok(Query(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A required parameter; missing and empty are the same fault.
    fn required(&self, name: &str) -> Result<&str, PortalError> {
        self.get(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| invalid_request(format!("The {name} parameter is required")))
    }
}

/// What a page token continues: the account list, or one account's roles.
/// The token names it, so a token of one listing is unknown to another.
#[derive(Clone, Copy)]
enum Listing<'a> {
    Accounts,
    Roles(&'a str),
}

impl Listing<'_> {
    /// The token for the page starting at `offset`: opaque to clients, but
    /// made of `/`, `+` and `=` on purpose, so a client that does not
    /// percent-encode `next_token` sends another token and gets a 400 (the
    /// spec's own example token is `a/b+c=`, §5).
    fn token(self, offset: usize) -> String {
        match self {
            Listing::Accounts => format!("accounts/{offset}+="),
            Listing::Roles(account_id) => format!("roles/{account_id}/{offset}+="),
        }
    }

    /// The offset a token names, if this listing issued it for an offset
    /// within `len` items; every other token is unknown.
    fn offset(self, token: &str, len: usize) -> Option<usize> {
        let prefix = match self {
            Listing::Accounts => "accounts/".to_owned(),
            Listing::Roles(account_id) => format!("roles/{account_id}/"),
        };
        let digits = token.strip_prefix(&prefix)?.strip_suffix("+=")?;
        let offset: usize = digits.parse().ok()?;
        // Only the exact text issued: no leading zeros or signs.
        (self.token(offset) == token && (1..len).contains(&offset)).then_some(offset)
    }
}

/// The slice of `items` a ListAccounts or ListAccountRoles request asks for,
/// and the next page's token when more remain.
fn page<'i, T>(
    items: &'i [T],
    query: &Query,
    listing: Listing<'_>,
    default_size: usize,
) -> Result<(&'i [T], Option<String>), PortalError> {
    let size = match query.get(portal_query::MAX_RESULT) {
        None => default_size,
        Some(text) => {
            let size: i64 = text.parse().map_err(|_| {
                invalid_request(format!(
                    "The max_result parameter must be an integer, not {:?}",
                    shown(text)
                ))
            })?;
            if !(1..=i64::from(PORTAL_MAX_RESULT)).contains(&size) {
                return Err(invalid_request(RESULT_SIZE_MESSAGE));
            }
            usize::try_from(size).unwrap_or(1)
        }
    };
    // An empty token is refused too: a client that sends one after the last
    // page would otherwise start over and never stop.
    let start = match query.get(portal_query::NEXT_TOKEN) {
        None => 0,
        Some(token) => listing
            .offset(token, items.len())
            .ok_or_else(|| invalid_request("The next token is invalid or has expired"))?,
    };
    let end = start.saturating_add(size).min(items.len());
    let next = (end < items.len()).then(|| listing.token(end));
    Ok((items.get(start..end).unwrap_or_default(), next))
}

fn epoch_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

fn ok<T: Serialize>(body: &T) -> Response {
    json_response(http::StatusCode::OK, wire::encode(body))
}

impl Service {
    /// Answers a portal request (any of [`Operation::PORTAL`], with the right
    /// method) received at `now`, without the request-id headers.
    pub(super) fn portal(
        &mut self,
        now: SystemTime,
        operation: Operation,
        request: &http::Request<Vec<u8>>,
    ) -> Response {
        if self.over_rate_limit(now) {
            self.counters.portal_throttled += 1;
            return portal_error_response(&PortalError::new(
                PortalErrorCode::TooManyRequests,
                THROTTLED_MESSAGE,
            ));
        }
        self.portal_result(now, operation, request)
            .unwrap_or_else(|error| portal_error_response(&error))
    }

    fn portal_result(
        &mut self,
        now: SystemTime,
        operation: Operation,
        request: &http::Request<Vec<u8>>,
    ) -> Result<Response, PortalError> {
        let grant = self.bearer(now, request)?;
        let query = Query::parse(request.uri().query())?;
        match operation {
            Operation::GetRoleCredentials => self.get_role_credentials(now, &grant, &query),
            Operation::ListAccounts => self.list_accounts(&query),
            Operation::ListAccountRoles => self.list_account_roles(&query),
            Operation::Logout => {
                self.end_session(&grant.session);
                // The real body is unconfirmed (§7); botocore accepts an empty one.
                Ok(json_response(http::StatusCode::OK, Vec::new()))
            }
            // Not routed here; answered as a path that serves nothing.
            other => Err(PortalError::new(
                PortalErrorCode::ResourceNotFound,
                format!("{} is not a portal operation", other.name()),
            )),
        }
    }

    /// The grant of the request's `x-amz-sso_bearer_token` if this service
    /// issued that access token, it has not expired, and its session has not
    /// logged out. A missing or empty header is answered like an unknown
    /// token, 401 rather than 400: the service's message ("Session token not
    /// found or invalid") covers a token not found, and 401 is what sends a
    /// client to sign in again, which is what it needs. `Authorization:
    /// Bearer` is not read: the portal does not use it (§2).
    fn bearer(
        &self,
        now: SystemTime,
        request: &http::Request<Vec<u8>>,
    ) -> Result<AccessGrant, PortalError> {
        let token = request
            .headers()
            .get(BEARER_TOKEN_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|token| !token.is_empty())
            .ok_or_else(unauthorized)?;
        match self.state.access_tokens.get(token) {
            Some(grant) if now < grant.expires_at => Ok(grant.clone()),
            _ => Err(unauthorized()),
        }
    }

    /// Role credentials for an assigned role. Their `expiration` is now +
    /// [`ServiceConfig::role_session_ttl`](super::ServiceConfig::role_session_ttl),
    /// clamped to the access token's own expiry: credentials never outlive
    /// the sign-in that obtained them here. Whether the real service clamps
    /// is unconfirmed (§17); it keeps role sessions alive after a logout,
    /// and so does this one (nothing checks the credentials).
    fn get_role_credentials(
        &mut self,
        now: SystemTime,
        grant: &AccessGrant,
        query: &Query,
    ) -> Result<Response, PortalError> {
        let role_name = query.required(portal_query::ROLE_NAME)?;
        let account_id = query.required(portal_query::ACCOUNT_ID)?;
        let assigned = self.config.accounts.iter().any(|account| {
            account.account_id == account_id && account.roles.iter().any(|r| r == role_name)
        });
        if !assigned {
            return Err(PortalError::new(
                PortalErrorCode::Forbidden,
                FORBIDDEN_MESSAGE,
            ));
        }
        let expires_at = later(now, self.config.role_session_ttl).min(grant.expires_at);
        let random_failed = |error: random::RandomUnavailable| PortalError {
            code: PortalErrorCode::Other(INTERNAL_SERVER.to_owned()),
            status: 500,
            message: Some(error.to_string()),
        };
        let credentials = RoleCredentialsBody {
            access_key_id: Some(random::access_key_id().map_err(random_failed)?),
            secret_access_key: Some(SecretAccessKey::new(
                random::secret_access_key().map_err(random_failed)?,
            )),
            session_token: Some(SessionToken::new(
                random::session_token().map_err(random_failed)?,
            )),
            expiration: Some(epoch_millis(expires_at)),
        };
        Ok(ok(&GetRoleCredentialsResponse {
            role_credentials: Some(credentials),
        }))
    }

    /// The assigned accounts, in configuration order, a page at a time.
    fn list_accounts(&self, query: &Query) -> Result<Response, PortalError> {
        let (accounts, next_token) = page(
            &self.config.accounts,
            query,
            Listing::Accounts,
            self.default_page_size(),
        )?;
        let account_list = accounts
            .iter()
            .map(|account| AccountInfo {
                account_id: Some(account.account_id.clone()),
                account_name: account.account_name.clone(),
                email_address: account.email_address.clone(),
            })
            .collect();
        Ok(ok(&ListAccountsResponse {
            account_list: Some(account_list),
            next_token,
        }))
    }

    /// The roles assigned in one account, a page at a time. An account the
    /// person has no assignment in gets an empty list (200), not a 403: the
    /// list is of the person's assignments, and it is empty; that also says
    /// nothing about whether the account exists. The real answer is
    /// unconfirmed.
    fn list_account_roles(&self, query: &Query) -> Result<Response, PortalError> {
        let account_id = query.required(portal_query::ACCOUNT_ID)?;
        let roles: Vec<&String> = self
            .config
            .accounts
            .iter()
            .filter(|account| account.account_id == account_id)
            .flat_map(|account| &account.roles)
            .collect();
        let (roles, next_token) = page(
            &roles,
            query,
            Listing::Roles(account_id),
            self.default_page_size(),
        )?;
        let role_list = roles
            .iter()
            .map(|role| RoleInfo {
                role_name: Some((*role).clone()),
                account_id: Some(account_id.to_owned()),
            })
            .collect();
        Ok(ok(&ListAccountRolesResponse {
            role_list: Some(role_list),
            next_token,
        }))
    }

    fn default_page_size(&self) -> usize {
        let size = self.config.portal_page_size.clamp(1, PORTAL_MAX_RESULT);
        usize::try_from(size).unwrap_or(1)
    }

    /// Whether a portal request at `now` is one too many for
    /// [`ServiceConfig::portal_rate_limit`](super::ServiceConfig::portal_rate_limit):
    /// at most that many are accepted in any one-second window; refused ones
    /// do not count. Times more than a second ahead of `now` (a wall clock
    /// that went back) are forgotten, so the window cannot stick.
    fn over_rate_limit(&mut self, now: SystemTime) -> bool {
        let Some(limit) = self.config.portal_rate_limit else {
            return false;
        };
        let since = now.checked_sub(RATE_WINDOW).unwrap_or(UNIX_EPOCH);
        let until = later(now, RATE_WINDOW);
        self.portal_window.retain(|&at| at > since && at <= until);
        if self.portal_window.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
            return true;
        }
        self.portal_window.push_back(now);
        false
    }
}

/// Adds what every portal answer carries besides `Content-Type`: the
/// portal's `RequestId` (with the same id as `x-amzn-RequestId`, which the
/// SDKs read, §2), `Access-Control-Expose-Headers: RequestId` and
/// `Cache-Control: no-cache`, as recorded from the real service.
pub(super) fn add_portal_headers(response: &mut Response, request_id: Option<&http::HeaderValue>) {
    let headers = response.headers_mut();
    if let Some(id) = request_id {
        headers.insert(http::HeaderName::from_static("requestid"), id.clone());
    }
    headers.insert(
        http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        http::HeaderValue::from_static("RequestId"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    // Every portal answer is JSON, the empty Logout body included.
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE_JSON),
    );
}
