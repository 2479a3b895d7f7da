//! The authorization-code grant with PKCE (RFC 6749 §4.1, RFC 7636) on the
//! service's side: the browser-facing `GET /authorize` (`wire-protocol.md`
//! §7), the person's decision, and the exchange of the code at CreateToken
//! (`device-flow.md` §6.4).
//!
//! The query is decoded with `serde_urlencoded`, not with the core's
//! `parse_query`: clients encode with the core's `percent_encode`, so an
//! independent decoder here is a cross-check of that encoder.

use std::collections::HashSet;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use ssoflow_core::ServiceError;
use ssoflow_core::pkce::{self, METHOD_S256};
use ssoflow_core::wire::{CreateTokenRequest, GRANT_AUTHORIZATION_CODE};

use super::{
    ApprovalError, Decision, PendingInfo, Response, Service, constant_time_eq, invalid_grant,
    invalid_request, later, random,
};

/// How much of a refused value an error message repeats.
const SHOWN_CHARS: usize = 64;

/// The only `response_type` of the authorization-code grant.
const RESPONSE_TYPE_CODE: &str = "code";

/// The length of an S256 `code_challenge`: 32 bytes of SHA-256, unpadded base64url.
const S256_CHALLENGE_LEN: usize = 43;

/// What a valid `GET /authorize` leads to.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthorizeStep {
    /// A person must decide: show the consent page for this request, then
    /// call [`Service::decide_authorization`] with its id.
    Consent(PendingAuthorization),
    /// [`ServiceConfig::auto_approve`](super::ServiceConfig::auto_approve) is
    /// set: send the browser at once to this Location, which carries the code.
    Redirect(String),
}

impl std::fmt::Debug for AuthorizeStep {
    /// The Location carries the authorization code, so it is not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthorizeStep::Consent(pending) => f.debug_tuple("Consent").field(pending).finish(),
            AuthorizeStep::Redirect(_) => f.write_str("Redirect([redacted])"),
        }
    }
}

/// An `/authorize` request waiting for a person's decision, as a consent
/// page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// The handle the consent form posts back to decide it: random and
    /// unguessable, and not the authorization code (which exists only once
    /// the person allows).
    pub id: String,
    /// The `clientName` of the registration that asked.
    pub client_name: String,
    /// The scopes requested (the registration's, when the request named none).
    pub scopes: Vec<String>,
    /// The `redirect_uri` exactly as the request sent it.
    pub redirect_uri: String,
    /// Its `host[:port]`, e.g. `127.0.0.1:49152`: where the browser goes next.
    pub redirect_host: String,
    /// When the request stops being decidable.
    pub expires_at: SystemTime,
}

/// A sign-in waiting for a person, of either kind, as the admin API lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingRequest {
    /// A device authorization, decided by its user code.
    DeviceCode(PendingInfo),
    /// An `/authorize` request, decided by its id.
    AuthorizationCode(PendingAuthorization),
}

impl PendingRequest {
    /// What [`Service::decide_pending`] takes: the user code or the request's id.
    pub fn id(&self) -> &str {
        match self {
            PendingRequest::DeviceCode(info) => &info.user_code,
            PendingRequest::AuthorizationCode(pending) => &pending.id,
        }
    }

    /// When it stops being decidable.
    pub fn expires_at(&self) -> SystemTime {
        match self {
            PendingRequest::DeviceCode(info) => info.expires_at,
            PendingRequest::AuthorizationCode(pending) => pending.expires_at,
        }
    }
}

/// What [`Service::decide_pending`] decided.
#[derive(Clone, PartialEq, Eq)]
pub enum Decided {
    /// A device authorization; its next poll gets the token or `access_denied`.
    DeviceCode {
        /// Its user code, as issued (with the dash).
        user_code: String,
    },
    /// An `/authorize` request; the browser must be sent to `location`.
    AuthorizationCode {
        /// The redirect URI with `code` (or `error=access_denied`) and `state`.
        location: String,
    },
}

impl std::fmt::Debug for Decided {
    /// The Location carries the authorization code, so it is not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decided::DeviceCode { user_code } => f
                .debug_struct("DeviceCode")
                .field("user_code", user_code)
                .finish(),
            Decided::AuthorizationCode { .. } => f
                .debug_struct("AuthorizationCode")
                .field("location", &format_args!("[redacted]"))
                .finish(),
        }
    }
}

/// Why `GET /authorize` was refused. It is shown to the person on an error
/// page and never sent back to the redirect URI: RFC 6749 §4.1.2.1 allows a
/// redirect once the client and redirect URI are known good, but a page
/// is what a person (or a test) can read, and the real service's choice is
/// unconfirmed. Every message names the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizeRefusal {
    /// The query string is too long to be a real request.
    #[error("the query string is longer than {} bytes", pkce::MAX_QUERY_LEN)]
    QueryTooLong,
    /// The query string could not be decoded.
    #[error("the query string cannot be decoded: {0}")]
    MalformedQuery(String),
    /// A parameter appears more than once (RFC 6749 §3.1 forbids it).
    #[error("the parameter {0} appears more than once")]
    Repeated(String),
    /// A required parameter is missing or empty.
    #[error("the parameter {0} is missing")]
    Missing(&'static str),
    /// `client_id` names no registration.
    #[error("client_id {0:?} names no registered client")]
    UnknownClient(String),
    /// `client_id` names a registration that has expired.
    #[error("client_id names a registration that has expired; the application must register again")]
    ExpiredClient,
    /// The registration's `grantTypes` do not include `authorization_code`.
    #[error("client_id names a client that is not registered for the authorization_code grant")]
    GrantNotRegistered,
    /// `redirect_uri` matches none of the registration's `redirectUris`.
    #[error("redirect_uri {0:?} is not one of the client's registered redirect URIs")]
    RedirectUriNotRegistered(String),
    /// `response_type` is not `code`.
    #[error("response_type {0:?} is not supported; only \"code\" is")]
    UnsupportedResponseType(String),
    /// `code_challenge_method` is not `S256`.
    #[error("code_challenge_method {0:?} is not supported; only \"S256\" is")]
    UnsupportedChallengeMethod(String),
    /// `code_challenge` is not an S256 challenge.
    #[error(
        "code_challenge must be 43 base64url characters (the unpadded S256 hash of the \
         verifier), not {0:?}"
    )]
    InvalidCodeChallenge(String),
    /// `scopes` names a scope the registration does not have.
    #[error("scopes: {0:?} is not one of the client's registered scopes")]
    ScopeNotRegistered(String),
    /// The operating system's random source failed; trying again may work.
    #[error("the service could not draw a random value; try again")]
    RandomUnavailable,
}

impl AuthorizeRefusal {
    /// The query parameter at fault, if one is.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            AuthorizeRefusal::QueryTooLong
            | AuthorizeRefusal::MalformedQuery(_)
            | AuthorizeRefusal::RandomUnavailable => None,
            AuthorizeRefusal::Repeated(name) => Some(name),
            AuthorizeRefusal::Missing(name) => Some(name),
            AuthorizeRefusal::UnknownClient(_)
            | AuthorizeRefusal::ExpiredClient
            | AuthorizeRefusal::GrantNotRegistered => Some("client_id"),
            AuthorizeRefusal::RedirectUriNotRegistered(_) => Some("redirect_uri"),
            AuthorizeRefusal::UnsupportedResponseType(_) => Some("response_type"),
            AuthorizeRefusal::UnsupportedChallengeMethod(_) => Some("code_challenge_method"),
            AuthorizeRefusal::InvalidCodeChallenge(_) => Some("code_challenge"),
            AuthorizeRefusal::ScopeNotRegistered(_) => Some("scopes"),
        }
    }
}

/// An `/authorize` request as validated; decided once.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct AuthorizationRequest {
    client_id: String,
    /// As sent (with the listener's port), for the Location and the exchange.
    redirect_uri: String,
    /// As sent, if sent; echoed in the Location.
    state: Option<String>,
    code_challenge: String,
    scopes: Vec<String>,
    pub(super) expires_at: SystemTime,
    /// `Pending`, then `Approved` or `Denied` for good.
    decision: Decision,
}

/// An authorization code the person allowed.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    pub(super) expires_at: SystemTime,
    /// Exchanged once already: a second use is refused and revokes the tokens.
    redeemed: bool,
    /// The session its exchange started, so that a second use can end it
    /// (access tokens included); `None` until then, and in snapshots before
    /// format 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
}

impl Service {
    /// Handles the browser's `GET /authorize` received at `now`; `query` is
    /// the raw query string (without the `?`), decoded here. The request is
    /// checked in this order, and the first fault refused: no repeated
    /// parameter; `client_id` registered, unexpired and allowed the
    /// authorization-code grant; `redirect_uri` matching a registered one
    /// (exactly, or a loopback URI with any port, RFC 8252 §7.3);
    /// `response_type=code`; `code_challenge_method=S256`; a 43-character
    /// `code_challenge`; `scopes` (space-separated) among the registration's
    /// scopes, which are also the default. `state` is optional and echoed.
    /// Parameters this service does not know are ignored (RFC 6749 §3.1).
    /// Counted in [`Counters::authorize`](super::Counters::authorize);
    /// injected faults do not apply to it.
    pub fn authorize(
        &mut self,
        now: SystemTime,
        query: &str,
    ) -> Result<AuthorizeStep, AuthorizeRefusal> {
        self.counters.authorize += 1;
        self.forget_long_expired_codes(now);
        let params = Params::decode(query)?;

        let client_id = params.required("client_id")?;
        let registration = self
            .state
            .registrations
            .get(client_id)
            .ok_or_else(|| AuthorizeRefusal::UnknownClient(shown(client_id)))?;
        if now >= registration.expires_at {
            return Err(AuthorizeRefusal::ExpiredClient);
        }
        // As at CreateToken: a registration that names no grants may use every grant.
        if !registration.grant_types.is_empty()
            && !registration
                .grant_types
                .iter()
                .any(|g| g == GRANT_AUTHORIZATION_CODE)
        {
            return Err(AuthorizeRefusal::GrantNotRegistered);
        }
        let redirect_uri = params.required("redirect_uri")?;
        if !registration
            .redirect_uris
            .iter()
            .any(|registered| pkce::redirect_uri_matches(registered, redirect_uri))
        {
            return Err(AuthorizeRefusal::RedirectUriNotRegistered(shown(
                redirect_uri,
            )));
        }
        let response_type = params.required("response_type")?;
        if response_type != RESPONSE_TYPE_CODE {
            return Err(AuthorizeRefusal::UnsupportedResponseType(shown(
                response_type,
            )));
        }
        let method = params.required("code_challenge_method")?;
        if method != METHOD_S256 {
            return Err(AuthorizeRefusal::UnsupportedChallengeMethod(shown(method)));
        }
        let challenge = params.required("code_challenge")?;
        if !is_s256_challenge(challenge) {
            return Err(AuthorizeRefusal::InvalidCodeChallenge(shown(challenge)));
        }
        let scopes = match params.get("scopes") {
            None => registration.scopes.clone(),
            Some(requested) => {
                let mut scopes: Vec<String> = Vec::new();
                for scope in requested.split(' ').filter(|s| !s.is_empty()) {
                    if !registration.scopes.iter().any(|s| s == scope) {
                        return Err(AuthorizeRefusal::ScopeNotRegistered(shown(scope)));
                    }
                    if !scopes.iter().any(|s| s == scope) {
                        scopes.push(scope.to_owned());
                    }
                }
                scopes
            }
        };

        let id =
            random::authorization_request_id().map_err(|_| AuthorizeRefusal::RandomUnavailable)?;
        let request = AuthorizationRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            state: params.get("state").map(str::to_owned),
            code_challenge: challenge.to_owned(),
            scopes,
            expires_at: later(now, self.config.authorization_request_ttl),
            decision: Decision::Pending,
        };
        let pending = self.pending_authorization(&id, &request);
        self.state
            .authorization_requests
            .insert(id.clone(), request);
        if self.config.auto_approve.is_some() {
            return match self.decide_authorization(now, &id, true) {
                Ok(location) => Ok(AuthorizeStep::Redirect(location)),
                // The request was created just now, so only the random
                // source can have failed.
                Err(_) => Err(AuthorizeRefusal::RandomUnavailable),
            };
        }
        Ok(AuthorizeStep::Consent(pending))
    }

    /// The person's decision on the `/authorize` request `id`, at `now`;
    /// returns the Location to send the browser to: the `redirect_uri` as
    /// sent, plus `code=…` when `approve`d or `error=access_denied` when not,
    /// plus `state=…` if the request had one, values percent-encoded. A
    /// denied request never gets a code. A decision is final: deciding again
    /// (either way) is [`ApprovalError::AlreadyUsed`]; an unknown id is
    /// [`ApprovalError::UnknownRequest`].
    pub fn decide_authorization(
        &mut self,
        now: SystemTime,
        id: &str,
        approve: bool,
    ) -> Result<String, ApprovalError> {
        let request = self
            .state
            .authorization_requests
            .get(id)
            .ok_or(ApprovalError::UnknownRequest)?;
        match request.decision {
            Decision::Pending if now >= request.expires_at => return Err(ApprovalError::Expired),
            Decision::Pending => {}
            Decision::Approved | Decision::Denied | Decision::Redeemed => {
                return Err(ApprovalError::AlreadyUsed);
            }
        }
        let (decision, location) = if approve {
            let code =
                random::authorization_code().map_err(|_| ApprovalError::RandomUnavailable)?;
            self.state.authorization_codes.insert(
                code.clone(),
                CodeGrant {
                    client_id: request.client_id.clone(),
                    redirect_uri: request.redirect_uri.clone(),
                    code_challenge: request.code_challenge.clone(),
                    expires_at: later(now, self.config.authorization_code_ttl),
                    redeemed: false,
                    session: None,
                },
            );
            let location = location(&request.redirect_uri, ("code", &code), &request.state);
            (Decision::Approved, location)
        } else {
            let location = location(
                &request.redirect_uri,
                ("error", "access_denied"),
                &request.state,
            );
            (Decision::Denied, location)
        };
        if let Some(request) = self.state.authorization_requests.get_mut(id) {
            request.decision = decision;
        }
        Ok(location)
    }

    /// The `/authorize` request `id` if a person can still decide it, for a
    /// consent page; otherwise why not (unknown, expired, already decided).
    pub fn lookup_authorization(
        &self,
        now: SystemTime,
        id: &str,
    ) -> Result<PendingAuthorization, ApprovalError> {
        let request = self
            .state
            .authorization_requests
            .get(id)
            .ok_or(ApprovalError::UnknownRequest)?;
        match request.decision {
            Decision::Pending if now >= request.expires_at => Err(ApprovalError::Expired),
            Decision::Pending => Ok(self.pending_authorization(id, request)),
            Decision::Approved | Decision::Denied | Decision::Redeemed => {
                Err(ApprovalError::AlreadyUsed)
            }
        }
    }

    /// The `/authorize` requests still waiting for a decision at `now`,
    /// soonest to expire first.
    pub fn pending_authorizations(&self, now: SystemTime) -> Vec<PendingAuthorization> {
        let mut pending: Vec<PendingAuthorization> = self
            .state
            .authorization_requests
            .iter()
            .filter(|(_, r)| r.decision == Decision::Pending && now < r.expires_at)
            .map(|(id, request)| self.pending_authorization(id, request))
            .collect();
        pending.sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
        pending
    }

    /// Every sign-in still waiting for a decision at `now`, device codes
    /// ([`Service::pending`]) and `/authorize` requests
    /// ([`Service::pending_authorizations`]) together, soonest to expire first.
    pub fn pending_requests(&self, now: SystemTime) -> Vec<PendingRequest> {
        let mut all: Vec<PendingRequest> = self
            .pending(now)
            .into_iter()
            .map(PendingRequest::DeviceCode)
            .chain(
                self.pending_authorizations(now)
                    .into_iter()
                    .map(PendingRequest::AuthorizationCode),
            )
            .collect();
        all.sort_by(|a, b| (a.expires_at(), a.id()).cmp(&(b.expires_at(), b.id())));
        all
    }

    /// Approves or denies a pending sign-in of either kind by the id
    /// [`PendingRequest::id`] gives: an `/authorize` request's id as by
    /// [`Service::decide_authorization`], otherwise a user code as by
    /// [`Service::approve`] and [`Service::deny`] (with their rules for
    /// matching and repeats). An id that is neither is
    /// [`ApprovalError::UnknownCode`].
    pub fn decide_pending(
        &mut self,
        now: SystemTime,
        id: &str,
        approve: bool,
    ) -> Result<Decided, ApprovalError> {
        if self.state.authorization_requests.contains_key(id) {
            return self
                .decide_authorization(now, id, approve)
                .map(|location| Decided::AuthorizationCode { location });
        }
        let user_code = self
            .state
            .user_codes
            .get(&super::normalize_user_code(id))
            .and_then(|device_code| self.state.authorizations.get(device_code))
            .map(|auth| auth.user_code.clone())
            .ok_or(ApprovalError::UnknownCode)?;
        if approve {
            self.approve(&user_code, now)?;
        } else {
            self.deny(&user_code, now)?;
        }
        Ok(Decided::DeviceCode { user_code })
    }

    fn pending_authorization(
        &self,
        id: &str,
        request: &AuthorizationRequest,
    ) -> PendingAuthorization {
        let client_name = self
            .state
            .registrations
            .get(&request.client_id)
            .map(|r| r.client_name.clone())
            .unwrap_or_default();
        PendingAuthorization {
            id: id.to_owned(),
            client_name,
            scopes: request.scopes.clone(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_host: redirect_host(&request.redirect_uri).to_owned(),
            expires_at: request.expires_at,
        }
    }

    /// CreateToken with the `authorization_code` grant; the client is
    /// already authenticated. Missing members are `invalid_request`; a code
    /// that is unknown, another client's, expired or already used, a
    /// `redirectUri` other than the one sent to `/authorize`, and a verifier
    /// that is malformed or does not hash to the challenge are all
    /// `invalid_grant`, as RFC 6749 §5.2 and RFC 7636 §4.6 say. Which code
    /// the real service sends for each is unconfirmed (`device-flow.md`
    /// §6.4); the AWS CLI also handles `expired_token` there, but RFC 6749
    /// names `invalid_grant` for an expired code too. A failed exchange
    /// leaves the code usable: only a successful one spends it.
    pub(super) fn redeem_authorization_code(
        &mut self,
        now: SystemTime,
        input: &CreateTokenRequest,
    ) -> Result<Response, ServiceError> {
        let missing = |member: &str| {
            invalid_request(format!(
                "{member} is required for the {GRANT_AUTHORIZATION_CODE} grant"
            ))
        };
        let code = input.code.as_ref().ok_or_else(|| missing("code"))?;
        let redirect_uri = input
            .redirect_uri
            .as_deref()
            .ok_or_else(|| missing("redirectUri"))?;
        let verifier = input
            .code_verifier
            .as_ref()
            .ok_or_else(|| missing("codeVerifier"))?;
        let grant = self
            .state
            .authorization_codes
            .get(code.secret())
            .ok_or_else(|| invalid_grant("unknown authorization code"))?;
        if grant.client_id != input.client_id {
            return Err(invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if grant.redeemed {
            // RFC 6749 §4.1.2: a code used twice may have been stolen, so
            // the tokens issued for it are revoked: its session (access and
            // refresh tokens), and the refresh token lineage for codes
            // exchanged before sessions were recorded.
            let spent = code.secret();
            if let Some(session) = grant.session.clone() {
                self.end_session(&session);
            }
            self.state
                .refresh_tokens
                .retain(|_, refresh| refresh.from_code.as_deref() != Some(spent));
            return Err(invalid_grant(
                "the authorization code has already been used; the tokens issued for it are \
                 revoked",
            ));
        }
        if now >= grant.expires_at {
            return Err(invalid_grant("the authorization code has expired"));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                "redirectUri differs from the redirect_uri sent to /authorize",
            ));
        }
        if !pkce::is_valid_verifier(verifier.secret()) {
            return Err(invalid_grant(
                "codeVerifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ \
                 (RFC 7636 §4.1)",
            ));
        }
        let computed = pkce::code_challenge(verifier.secret());
        if !constant_time_eq(computed.as_bytes(), grant.code_challenge.as_bytes()) {
            return Err(invalid_grant(
                "codeVerifier does not match the code_challenge sent to /authorize",
            ));
        }
        let client_id = grant.client_id.clone();
        let session = random::session_id()?;
        let response = self.issue_token(
            now,
            &client_id,
            true,
            Some(code.secret().to_owned()),
            session.clone(),
        )?;
        // Spent only once the token exists, as a device code is.
        if let Some(grant) = self.state.authorization_codes.get_mut(code.secret()) {
            grant.redeemed = true;
            grant.session = Some(session);
        }
        Ok(response)
    }
}

/// Why a redirect URI cannot be registered, if it cannot: it must be `https`,
/// or `http` on a loopback IP literal (RFC 8252 §7.3, §8.3: not `localhost`);
/// never with a fragment (RFC 6749 §3.1.2) or user information; and a
/// loopback one without a query, so `?code=…` can simply be appended.
pub(super) fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.contains('#') {
        return Err("a redirect URI must not have a fragment");
    }
    // It ends up in a Location header, and a URI is ASCII anyway (RFC 3986 §2).
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("it is not an absolute URI of printable ASCII (percent-encode the rest)");
    }
    let parsed: http::Uri = uri.parse().map_err(|_| "it is not an absolute URI")?;
    let (Some(scheme), Some(authority)) = (parsed.scheme_str(), parsed.authority()) else {
        return Err("it is not an absolute URI");
    };
    if authority.as_str().contains('@') {
        return Err("a redirect URI must not carry user information");
    }
    let host = authority.host();
    let loopback = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => Ok(()),
        "http" if loopback && parsed.query().is_some() => {
            Err("a loopback redirect URI must not have a query")
        }
        "http" if loopback => Ok(()),
        "http" if host.eq_ignore_ascii_case("localhost") => Err(
            "use the loopback IP literal 127.0.0.1 (or [::1]) rather than localhost \
             (RFC 8252 §8.3)",
        ),
        "http" => Err("http is allowed only on a loopback address; use https"),
        _ => Err("the scheme must be https, or http on a loopback address"),
    }
}

/// The decoded query: each name at most once.
struct Params(Vec<(String, String)>);

impl Params {
    fn decode(query: &str) -> Result<Params, AuthorizeRefusal> {
        if query.len() > pkce::MAX_QUERY_LEN {
            return Err(AuthorizeRefusal::QueryTooLong);
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|error| AuthorizeRefusal::MalformedQuery(error.to_string()))?;
        let mut seen = HashSet::new();
        for (name, _) in &pairs {
            if !seen.insert(name.as_str()) {
                return Err(AuthorizeRefusal::Repeated(shown(name)));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value; an empty one counts as missing.
    fn required(&self, name: &'static str) -> Result<&str, AuthorizeRefusal> {
        self.get(name)
            .filter(|value| !value.is_empty())
            .ok_or(AuthorizeRefusal::Missing(name))
    }
}

/// True for 43 characters of the base64url alphabet, the shape of every S256
/// challenge (RFC 7636 §4.2).
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == S256_CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `redirect_uri` plus one parameter and `state` (if sent), percent-encoded.
/// Registration refuses loopback URIs with a query; an `https` one may have
/// one, and then the parameters follow an `&`.
fn location(redirect_uri: &str, (name, value): (&str, &str), state: &Option<String>) -> String {
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!(
        "{redirect_uri}{separator}{name}={}",
        pkce::percent_encode(value)
    );
    if let Some(state) = state {
        location.push_str("&state=");
        location.push_str(&pkce::percent_encode(state));
    }
    location
}

/// The `host[:port]` of an absolute URI.
fn redirect_host(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.get(..end).unwrap_or(rest)
}

/// A value from the request, cut short for an error message.
pub(super) fn shown(value: &str) -> String {
    if value.chars().count() <= SHOWN_CHARS {
        value.to_owned()
    } else {
        let mut cut: String = value.chars().take(SHOWN_CHARS).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn redirect_uris_registrable_and_not() {
        for ok in [
            "http://127.0.0.1/oauth/callback",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/oauth/callback",
            "http://127.0.0.2/cb",
            "https://app.example/cb",
            "https://app.example/cb?tenant=1",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("http://app.example/cb", "https"),
            ("http://localhost/oauth/callback", "localhost"),
            ("http://127.0.0.1/cb?x=1", "query"),
            ("https://app.example/cb#frag", "fragment"),
            ("https://user@app.example/cb", "user information"),
            ("com.example.app:/cb", "absolute"),
            ("/oauth/callback", "absolute"),
            ("ftp://127.0.0.1/cb", "scheme"),
            ("http://127.0.0.1/ü", "absolute"),
        ] {
            let why = check_redirect_uri(bad).unwrap_err();
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn locations_encode_values_and_join_queries() {
        let state = Some("a b&c".to_owned());
        assert_eq!(
            location("http://127.0.0.1:5/cb", ("code", "x/y"), &state),
            "http://127.0.0.1:5/cb?code=x%2Fy&state=a%20b%26c"
        );
        assert_eq!(
            location(
                "https://app.example/cb?t=1",
                ("error", "access_denied"),
                &None
            ),
            "https://app.example/cb?t=1&error=access_denied"
        );
    }

    #[test]
    fn redirect_hosts() {
        assert_eq!(
            redirect_host("http://127.0.0.1:49152/oauth/callback"),
            "127.0.0.1:49152"
        );
        assert_eq!(redirect_host("http://[::1]:5/cb"), "[::1]:5");
        assert_eq!(redirect_host("https://app.example?x"), "app.example");
    }

    #[test]
    fn s256_challenges() {
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
        assert!(!is_s256_challenge("short"));
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        assert_eq!(shown("abc"), "abc");
        let long = "x".repeat(100);
        assert_eq!(shown(&long).chars().count(), SHOWN_CHARS + 1);
    }
}
