//! [`PortalCall`]: one portal operation as a sans-IO machine of the flows'
//! shape — one request in flight, retries with jittered backoff on 429, 5xx
//! and transport failures within a budget, pages followed to the end.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use crate::endpoint::Endpoint;
use crate::error::{ApiMisuse, DecodeError, FlowError, TransportErrorKind};
use crate::exchange::{Exchange, Trouble, backoff, later, lost_answer};
use crate::flow::{Ending, Event, Flow, RequestId, StateKind, Transmit, sealed};
use crate::operation::Operation;
use crate::pkce::percent_encode;
use crate::portal::{Account, AccountRole, PortalError, RoleCredentials};
use crate::secret::AccessToken;
use crate::wire::{self, BEARER_TOKEN_HEADER, PORTAL_MAX_RESULT, portal_query};

/// Attempts of one portal request before the call gives up.
pub(crate) const MAX_ATTEMPTS: u32 = 5;
/// First wait and cap of the backoff; each wait is drawn from its upper half.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(1);
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(20);
/// Pages followed before a listing is called endless.
pub(crate) const MAX_PAGES: u32 = 1_000;
/// `expiration` values below this (in ms, early 1973) are not milliseconds:
/// every SDK reads the member as milliseconds, so such a value would mean
/// credentials that expired decades ago (`portal-api.md` §4).
const MIN_EXPIRATION_MS: i64 = 100_000_000_000;

/// One kind of portal request: its operation and query, and how its answers
/// add up to the call's value. Implemented by [`GetRoleCredentials`],
/// [`ListAccounts`], [`ListAccountRoles`] and [`Logout`]; sealed.
pub trait PortalRequest: Clone + std::fmt::Debug + sealed::Sealed {
    /// What the call yields.
    type Output: Clone + std::fmt::Debug;

    /// The operation.
    fn operation(&self) -> Operation;

    /// What the call is about, for people: "role R in account A".
    fn target(&self) -> String;

    /// The query pairs of the request for the page `next_token` (`None`: the first).
    #[doc(hidden)]
    fn query(&self, next_token: Option<&str>) -> Vec<(&'static str, String)>;

    /// Takes one 2xx body; returns the next page's token, if there is one.
    #[doc(hidden)]
    fn absorb(&mut self, body: &[u8]) -> Result<Option<String>, DecodeError>;

    /// The value, once every page is in.
    #[doc(hidden)]
    fn output(&self) -> Option<Self::Output>;
}

/// GetRoleCredentials: temporary credentials for a role in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRoleCredentials {
    /// The 12-digit account id (`sso_account_id`).
    pub account_id: String,
    /// The permission set name (`sso_role_name`).
    pub role_name: String,
    received: Option<RoleCredentials>,
}

impl GetRoleCredentials {
    /// Credentials for `role_name` in `account_id`.
    pub fn new(account_id: impl Into<String>, role_name: impl Into<String>) -> Self {
        GetRoleCredentials {
            account_id: account_id.into(),
            role_name: role_name.into(),
            received: None,
        }
    }
}

impl sealed::Sealed for GetRoleCredentials {}

impl PortalRequest for GetRoleCredentials {
    type Output = RoleCredentials;

    fn operation(&self) -> Operation {
        Operation::GetRoleCredentials
    }

    fn target(&self) -> String {
        format!("role {} in account {}", self.role_name, self.account_id)
    }

    fn query(&self, _: Option<&str>) -> Vec<(&'static str, String)> {
        // botocore's order (portal-api.md §2).
        vec![
            (portal_query::ROLE_NAME, self.role_name.clone()),
            (portal_query::ACCOUNT_ID, self.account_id.clone()),
        ]
    }

    fn absorb(&mut self, body: &[u8]) -> Result<Option<String>, DecodeError> {
        let r: wire::GetRoleCredentialsResponse = wire::decode(body)?;
        let c = r
            .role_credentials
            .ok_or(DecodeError::MissingMember("roleCredentials"))?;
        let access_key_id = c
            .access_key_id
            .filter(|k| !k.is_empty())
            .ok_or(DecodeError::MissingMember("accessKeyId"))?;
        let secret_access_key = c
            .secret_access_key
            .filter(|k| !k.secret().is_empty())
            .ok_or(DecodeError::MissingMember("secretAccessKey"))?;
        let session_token = c
            .session_token
            .filter(|t| !t.secret().is_empty())
            .ok_or(DecodeError::MissingMember("sessionToken"))?;
        let ms = c
            .expiration
            .ok_or(DecodeError::MissingMember("expiration"))?;
        let expiration = u64::try_from(ms)
            .ok()
            .filter(|_| ms >= MIN_EXPIRATION_MS)
            .and_then(|ms| SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
            .ok_or(DecodeError::InvalidMember("expiration"))?;
        self.received = Some(RoleCredentials {
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
            account_id: self.account_id.clone(),
        });
        Ok(None)
    }

    fn output(&self) -> Option<RoleCredentials> {
        self.received.clone()
    }
}

/// ListAccounts: every account the person may use, all pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListAccounts {
    accounts: Vec<Account>,
    done: bool,
}

impl ListAccounts {
    /// All accounts.
    pub fn new() -> Self {
        ListAccounts::default()
    }
}

impl sealed::Sealed for ListAccounts {}

impl PortalRequest for ListAccounts {
    type Output = Vec<Account>;

    fn operation(&self) -> Operation {
        Operation::ListAccounts
    }

    fn target(&self) -> String {
        "the accounts".to_owned()
    }

    fn query(&self, next_token: Option<&str>) -> Vec<(&'static str, String)> {
        page_query(next_token)
    }

    fn absorb(&mut self, body: &[u8]) -> Result<Option<String>, DecodeError> {
        let r: wire::ListAccountsResponse = wire::decode(body)?;
        // The whole page or nothing: a retry of a page that failed half-way
        // must not add its first items twice.
        let mut page = Vec::new();
        for a in r.account_list.unwrap_or_default() {
            let account_id = a
                .account_id
                .filter(|id| !id.is_empty())
                .ok_or(DecodeError::MissingMember("accountId"))?;
            page.push(Account {
                account_id,
                account_name: a.account_name.filter(|n| !n.is_empty()),
                email_address: a.email_address.filter(|e| !e.is_empty()),
            });
        }
        self.accounts.extend(page);
        let next = r.next_token.filter(|t| !t.is_empty());
        self.done = next.is_none();
        Ok(next)
    }

    fn output(&self) -> Option<Vec<Account>> {
        self.done.then(|| self.accounts.clone())
    }
}

/// ListAccountRoles: every role the person may use in one account, all pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAccountRoles {
    /// The account.
    pub account_id: String,
    roles: Vec<AccountRole>,
    done: bool,
}

impl ListAccountRoles {
    /// All roles in `account_id`.
    pub fn new(account_id: impl Into<String>) -> Self {
        ListAccountRoles {
            account_id: account_id.into(),
            roles: Vec::new(),
            done: false,
        }
    }
}

impl sealed::Sealed for ListAccountRoles {}

impl PortalRequest for ListAccountRoles {
    type Output = Vec<AccountRole>;

    fn operation(&self) -> Operation {
        Operation::ListAccountRoles
    }

    fn target(&self) -> String {
        format!("the roles in account {}", self.account_id)
    }

    fn query(&self, next_token: Option<&str>) -> Vec<(&'static str, String)> {
        let mut query = vec![(portal_query::ACCOUNT_ID, self.account_id.clone())];
        query.extend(page_query(next_token));
        query
    }

    fn absorb(&mut self, body: &[u8]) -> Result<Option<String>, DecodeError> {
        let r: wire::ListAccountRolesResponse = wire::decode(body)?;
        let mut page = Vec::new();
        for role in r.role_list.unwrap_or_default() {
            let role_name = role
                .role_name
                .filter(|n| !n.is_empty())
                .ok_or(DecodeError::MissingMember("roleName"))?;
            page.push(AccountRole {
                account_id: role.account_id.unwrap_or_else(|| self.account_id.clone()),
                role_name,
            });
        }
        self.roles.extend(page);
        let next = r.next_token.filter(|t| !t.is_empty());
        self.done = next.is_none();
        Ok(next)
    }

    fn output(&self) -> Option<Vec<AccountRole>> {
        self.done.then(|| self.roles.clone())
    }
}

/// Logout: ends the portal session of the access token (role credentials
/// already handed out stay valid, `portal-api.md` §7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logout {
    done: bool,
}

impl Logout {
    /// Log the token's session out.
    pub fn new() -> Self {
        Logout::default()
    }
}

impl sealed::Sealed for Logout {}

impl PortalRequest for Logout {
    type Output = ();

    fn operation(&self) -> Operation {
        Operation::Logout
    }

    fn target(&self) -> String {
        "the portal session".to_owned()
    }

    fn query(&self, _: Option<&str>) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn absorb(&mut self, _: &[u8]) -> Result<Option<String>, DecodeError> {
        // The answer has no members; whatever body comes is fine.
        self.done = true;
        Ok(None)
    }

    fn output(&self) -> Option<()> {
        self.done.then_some(())
    }
}

fn page_query(next_token: Option<&str>) -> Vec<(&'static str, String)> {
    let mut query = vec![(portal_query::MAX_RESULT, PORTAL_MAX_RESULT.to_string())];
    if let Some(token) = next_token {
        query.push((portal_query::NEXT_TOKEN, token.to_owned()));
    }
    query
}

/// How a portal call ended, held by its terminal state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortalOutcome<T> {
    /// The portal answered: the value.
    Answered(T),
    /// The call failed for good, or was cancelled.
    Failed(FlowError),
}

impl<T> sealed::Sealed for PortalOutcome<T> {}

impl<T: Clone + std::fmt::Debug> Ending for PortalOutcome<T> {
    type Value = T;

    fn state(&self) -> StateKind {
        match self {
            PortalOutcome::Answered(_) => StateKind::Answered,
            PortalOutcome::Failed(_) => StateKind::Failed,
        }
    }

    fn into_result(self) -> Result<T, crate::drive::DriveError> {
        match self {
            PortalOutcome::Answered(value) => Ok(value),
            PortalOutcome::Failed(error) => Err(crate::drive::DriveError::Flow(error)),
        }
    }
}

#[derive(Debug)]
enum Phase<T> {
    Calling {
        next_token: Option<String>,
        seen_tokens: HashSet<String>,
        pages: u32,
    },
    Done(PortalOutcome<T>),
}

/// One call of the SSO portal API with an access token, as a sans-IO
/// machine driven like the flows (the [`Flow`] methods; the drivers' `run`
/// returns its value). The token goes only in `x-amz-sso_bearer_token`.
/// 429, 5xx, transport failures and unreadable answers are retried up to 5
/// attempts in all, waiting 1, 2, 4, 8 s (capped at 20 s), each wait drawn
/// from its upper half with the randomness seeded by the caller, so that
/// many clients throttled at once do not retry in step. Listings follow
/// `nextToken` with `max_result=100` and stop with
/// [`FlowError::RepeatedPageToken`] if a token comes twice. Any other error
/// ends the call with [`FlowError::Portal`], whose text says what to do
/// (401: sign in again; 403: no access to this account and role).
///
/// ```
/// use std::time::{Instant, SystemTime};
/// use ssoflow_core::portal::{GetRoleCredentials, PortalCall, PortalOutcome};
/// use ssoflow_core::secret::AccessToken;
/// use ssoflow_core::{Endpoint, EndpointVariant, Flow};
///
/// let endpoint = Endpoint::portal_for_region("us-east-1", EndpointVariant::default())?;
/// let now = Instant::now();
/// let request = GetRoleCredentials::new("111122223333", "ReadOnly");
/// let mut call = PortalCall::new(endpoint, AccessToken::new("aoa…"), request, now, 7);
/// let tx = call.poll_transmit(now).unwrap();
/// assert_eq!(tx.request.method(), "GET");
/// assert_eq!(
///     tx.request.uri(),
///     "https://portal.sso.us-east-1.amazonaws.com/federation/credentials?role_name=ReadOnly&account_id=111122223333"
/// );
/// let body = r#"{"roleCredentials":{"accessKeyId":"ASIARCORRECT","secretAccessKey":"s","sessionToken":"t","expiration":1234567890000}}"#;
/// call.handle_response(now, SystemTime::now(), tx.id, http::Response::new(body.into()))?;
/// let Some(PortalOutcome::Answered(credentials)) = call.outcome() else { panic!() };
/// assert_eq!(credentials.access_key_id, "ASIARCORRECT");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PortalCall<R: PortalRequest> {
    request: R,
    access_token: AccessToken,
    phase: Phase<R::Output>,
    exchange: Exchange,
    /// xorshift64 state for the backoff's jitter.
    rng: u64,
}

impl<R: PortalRequest> PortalCall<R> {
    /// A call of `request` to the portal at `endpoint` with `access_token`,
    /// at `now`; `seed` (any value, e.g. from the OS's random source) varies
    /// the retry waits between clients.
    pub fn new(
        endpoint: Endpoint,
        access_token: AccessToken,
        request: R,
        now: Instant,
        seed: u64,
    ) -> PortalCall<R> {
        PortalCall {
            request,
            access_token,
            phase: Phase::Calling {
                next_token: None,
                seen_tokens: HashSet::new(),
                pages: 0,
            },
            exchange: Exchange::new(endpoint, now),
            // xorshift needs a non-zero state.
            rng: seed | 1,
        }
    }

    fn fail(&mut self, error: FlowError) {
        self.phase = Phase::Done(PortalOutcome::Failed(error));
        self.exchange.abandon();
    }

    fn jitter(&mut self, wait: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = wait.checked_div(2).unwrap_or(wait);
        let millis = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let extra = self.rng.checked_rem(millis.saturating_add(1)).unwrap_or(0);
        half.saturating_add(Duration::from_millis(extra))
    }

    fn transient(&mut self, now: Instant, trouble: Trouble) {
        let failures = self.exchange.note_failure(trouble);
        let op = self.request.operation();
        if failures >= MAX_ATTEMPTS {
            let error = self.exchange.exhausted(op);
            self.fail(error);
            return;
        }
        let wait = self.jitter(backoff(BACKOFF_BASE, failures, BACKOFF_CAP));
        self.exchange.ready_at = later(now, wait);
        self.exchange.events.push_back(Event::Retrying {
            operation: op,
            attempt: failures,
            wait,
        });
    }

    fn on_success(&mut self, now: Instant, body: &[u8]) {
        let next = match self.request.absorb(body) {
            Ok(next) => next,
            Err(error) => {
                self.transient(now, Trouble::Decode(error));
                return;
            }
        };
        self.exchange.reset_failures();
        let op = self.request.operation();
        let Phase::Calling {
            next_token,
            seen_tokens,
            pages,
        } = &mut self.phase
        else {
            return;
        };
        *pages = pages.saturating_add(1);
        match next {
            Some(token) if !seen_tokens.insert(token.clone()) => {
                self.fail(FlowError::RepeatedPageToken { operation: op });
            }
            Some(_) if *pages >= MAX_PAGES => {
                self.fail(FlowError::RepeatedPageToken { operation: op });
            }
            Some(token) => {
                *next_token = Some(token);
                self.exchange.ready_at = now;
            }
            None => match self.request.output() {
                Some(value) => {
                    self.phase = Phase::Done(PortalOutcome::Answered(value));
                    self.exchange.abandon();
                }
                None => self.transient(
                    now,
                    Trouble::Decode(DecodeError::Json("an incomplete answer".to_owned())),
                ),
            },
        }
    }

    fn on_error(&mut self, now: Instant, error: PortalError) {
        if error.is_transient() {
            self.transient(now, Trouble::Other(error.to_string()));
            return;
        }
        let failure = FlowError::Portal {
            operation: self.request.operation(),
            target: self.request.target(),
            error: Box::new(error),
        };
        self.fail(failure);
    }

    fn build_request(&self, next_token: Option<&str>) -> Option<http::Request<Vec<u8>>> {
        let op = self.request.operation();
        let mut uri = self.exchange.endpoint.uri(op).ok()?.to_string();
        let query: Vec<String> = self
            .request
            .query(next_token)
            .into_iter()
            .map(|(name, value)| format!("{name}={}", percent_encode(&value)))
            .collect();
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query.join("&"));
        }
        let mut request = http::Request::new(Vec::new());
        *request.method_mut() = http::Method::from_bytes(op.method().as_bytes()).ok()?;
        *request.uri_mut() = uri.parse().ok()?;
        let token = http::HeaderValue::from_str(self.access_token.secret()).ok()?;
        request.headers_mut().insert(BEARER_TOKEN_HEADER, token);
        Some(request)
    }
}

impl<R: PortalRequest> sealed::Sealed for PortalCall<R> {}

impl<R: PortalRequest> Flow for PortalCall<R> {
    type Ending = PortalOutcome<R::Output>;
    const NAME: &'static str = "portal";

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let now = self.exchange.observe(now);
        self.handle_timeout(now);
        if self.exchange.in_flight() || now < self.exchange.ready_at {
            return None;
        }
        let Phase::Calling { next_token, .. } = &self.phase else {
            return None;
        };
        let Some(request) = self.build_request(next_token.as_deref()) else {
            // Only a token that is no valid header value gets here.
            self.fail(FlowError::Decode {
                operation: self.request.operation(),
                error: DecodeError::InvalidMember("accessToken"),
            });
            return None;
        };
        self.exchange
            .transmit_request(now, self.request.operation(), request)
    }

    fn handle_response(
        &mut self,
        now: Instant,
        _wall_now: SystemTime,
        id: RequestId,
        response: http::Response<Vec<u8>>,
    ) -> Result<(), ApiMisuse> {
        let now = self.exchange.observe(now);
        if self
            .exchange
            .settle(id, self.state().is_terminal())?
            .is_none()
        {
            return Ok(());
        }
        match PortalError::from_response(&response) {
            None => self.on_success(now, response.body()),
            Some(error) => self.on_error(now, error),
        }
        Ok(())
    }

    fn handle_transport_error(
        &mut self,
        now: Instant,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<(), ApiMisuse> {
        let now = self.exchange.observe(now);
        if self
            .exchange
            .settle(id, self.state().is_terminal())?
            .is_none()
        {
            return Ok(());
        }
        self.transient(now, Trouble::Other(format!("transport error: {kind:?}")));
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done(_) => None,
            Phase::Calling { .. } if self.exchange.in_flight() => self.exchange.answer_deadline(),
            Phase::Calling { .. } => Some(self.exchange.ready_at),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let now = self.exchange.observe(now);
        if self.exchange.give_up_if_unanswered(now).is_some() {
            self.transient(now, lost_answer());
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.exchange.events.pop_front()
    }

    fn state(&self) -> StateKind {
        match &self.phase {
            Phase::Calling { .. } => StateKind::Pending,
            Phase::Done(outcome) => outcome.state(),
        }
    }

    fn outcome(&self) -> Option<&PortalOutcome<R::Output>> {
        match &self.phase {
            Phase::Done(outcome) => Some(outcome),
            Phase::Calling { .. } => None,
        }
    }

    fn cancel(&mut self) {
        if !self.state().is_terminal() {
            self.fail(FlowError::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::{PortalErrorCode, portal_error_response};
    use crate::secret::AccessToken;
    use proptest::prelude::*;

    fn endpoint() -> Endpoint {
        Endpoint::from_url("http://127.0.0.1:9/prefix").unwrap()
    }

    fn ok(body: &str) -> http::Response<Vec<u8>> {
        http::Response::new(body.as_bytes().to_vec())
    }

    fn error(code: PortalErrorCode, message: &str) -> http::Response<Vec<u8>> {
        portal_error_response(&PortalError::new(code, message))
    }

    fn call<R: PortalRequest>(request: R, now: Instant, seed: u64) -> PortalCall<R> {
        PortalCall::new(
            endpoint(),
            AccessToken::new("aoa-token"),
            request,
            now,
            seed,
        )
    }

    /// Answers each request in turn; returns the request targets and the events.
    fn run<R: PortalRequest>(
        c: &mut PortalCall<R>,
        t0: Instant,
        mut answers: impl FnMut(usize) -> http::Response<Vec<u8>>,
    ) -> (Vec<String>, Vec<Event>) {
        let (mut sent, mut events, mut now) = (Vec::new(), Vec::new(), t0);
        for _ in 0..50 {
            if c.outcome().is_some() {
                break;
            }
            if let Some(tx) = c.poll_transmit(now) {
                assert!(tx.request.headers().get("authorization").is_none());
                assert_eq!(tx.request.headers()[BEARER_TOKEN_HEADER], "aoa-token");
                assert!(tx.request.body().is_empty());
                let answer = answers(sent.len());
                sent.push(format!("{} {}", tx.request.method(), tx.request.uri()));
                c.handle_response(now, SystemTime::UNIX_EPOCH, tx.id, answer)
                    .unwrap();
            }
            events.extend(std::iter::from_fn(|| c.poll_event()));
            if let Some(next) = c.poll_timeout() {
                now = now.max(next);
            }
        }
        (sent, events)
    }

    #[test]
    fn credentials_with_their_expiry_in_milliseconds() {
        let t0 = Instant::now();
        let mut c = call(
            GetRoleCredentials::new("111122223333", "Sample Role+x"),
            t0,
            1,
        );
        let (sent, _) = run(&mut c, t0, |_| {
            ok(
                r#"{"roleCredentials":{"accessKeyId":"ASIARCORRECT","secretAccessKey":"secretkeycorrect","sessionToken":"tokencorrect","expiration":1717246799999}}"#,
            )
        });
        assert_eq!(
            sent,
            [
                "GET http://127.0.0.1:9/prefix/federation/credentials?role_name=Sample%20Role%2Bx&account_id=111122223333"
            ]
        );
        let Some(PortalOutcome::Answered(credentials)) = c.outcome() else {
            panic!("{:?}", c.outcome())
        };
        assert_eq!(
            credentials.expiration,
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_717_246_799_999)
        );
        assert_eq!(credentials.account_id, "111122223333");
        let debug = format!("{c:?} {credentials:?}");
        for secret in ["secretkeycorrect", "tokencorrect", "aoa-token"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn an_expiry_in_seconds_is_not_taken_for_milliseconds() {
        let t0 = Instant::now();
        let mut c = call(GetRoleCredentials::new("1", "r"), t0, 1);
        let (sent, _) = run(&mut c, t0, |_| {
            ok(
                r#"{"roleCredentials":{"accessKeyId":"A","secretAccessKey":"s","sessionToken":"t","expiration":1717246799}}"#,
            )
        });
        assert_eq!(sent.len(), MAX_ATTEMPTS as usize);
        assert!(matches!(
            c.outcome(),
            Some(PortalOutcome::Failed(FlowError::Decode {
                error: DecodeError::InvalidMember("expiration"),
                ..
            }))
        ));
    }

    #[test]
    fn listings_follow_every_page() {
        let t0 = Instant::now();
        let mut c = call(ListAccounts::new(), t0, 1);
        let (sent, _) = run(&mut c, t0, |i| match i {
            0 => ok(
                r#"{"accountList":[{"accountId":"1","accountName":"dev"}],"nextToken":"a/b+c="}"#,
            ),
            _ => ok(
                r#"{"accountList":[{"accountId":"2","emailAddress":"x@example.com"}],"nextToken":null}"#,
            ),
        });
        assert_eq!(
            sent,
            [
                "GET http://127.0.0.1:9/prefix/assignment/accounts?max_result=100",
                "GET http://127.0.0.1:9/prefix/assignment/accounts?max_result=100&next_token=a%2Fb%2Bc%3D",
            ]
        );
        let Some(PortalOutcome::Answered(accounts)) = c.outcome() else {
            panic!()
        };
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[1].email_address.as_deref(), Some("x@example.com"));

        let mut c = call(ListAccountRoles::new("1"), t0, 1);
        let (sent, _) = run(&mut c, t0, |_| {
            ok(r#"{"roleList":[{"roleName":"ReadOnly","accountId":"1"},{"roleName":"Admin"}]}"#)
        });
        assert_eq!(
            sent,
            ["GET http://127.0.0.1:9/prefix/assignment/roles?account_id=1&max_result=100"]
        );
        let Some(PortalOutcome::Answered(roles)) = c.outcome() else {
            panic!()
        };
        assert_eq!(roles[1].account_id, "1");
    }

    #[test]
    fn a_page_that_fails_half_way_is_not_counted_twice() {
        let t0 = Instant::now();
        let mut c = call(ListAccounts::new(), t0, 1);
        run(&mut c, t0, |i| match i {
            0 => ok(r#"{"accountList":[{"accountId":"1"},{"accountName":"no id"}]}"#),
            _ => ok(r#"{"accountList":[{"accountId":"1"},{"accountId":"2"}]}"#),
        });
        let Some(PortalOutcome::Answered(accounts)) = c.outcome() else {
            panic!("{:?}", c.outcome())
        };
        assert_eq!(accounts.len(), 2, "{accounts:?}");
        // A 429 without a code is throttling too.
        let mut c = call(Logout::new(), t0, 1);
        let (sent, _) = run(&mut c, t0, |i| match i {
            0 => {
                let mut r = http::Response::new(Vec::new());
                *r.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
                r
            }
            _ => ok(""),
        });
        assert_eq!(sent.len(), 2);
    }

    #[test]
    fn a_repeated_page_token_stops_the_listing() {
        let t0 = Instant::now();
        let mut c = call(ListAccountRoles::new("1"), t0, 1);
        let (sent, _) = run(&mut c, t0, |_| ok(r#"{"roleList":[],"nextToken":"same"}"#));
        assert_eq!(sent.len(), 2);
        assert!(matches!(
            c.outcome(),
            Some(PortalOutcome::Failed(FlowError::RepeatedPageToken { .. }))
        ));
    }

    #[test]
    fn throttling_is_retried_with_jittered_waits_within_the_budget() {
        let t0 = Instant::now();
        let mut waits = Vec::new();
        for seed in [1, 2, 3] {
            let mut c = call(ListAccounts::new(), t0, seed);
            let (sent, events) = run(&mut c, t0, |_| {
                error(PortalErrorCode::TooManyRequests, "HTTP 429 Unknown Code")
            });
            assert_eq!(sent.len(), MAX_ATTEMPTS as usize);
            let these: Vec<Duration> = events
                .iter()
                .map(|e| match e {
                    Event::Retrying { wait, .. } => *wait,
                    other => panic!("{other:?}"),
                })
                .collect();
            for (i, wait) in these.iter().enumerate() {
                let full = backoff(BACKOFF_BASE, u32::try_from(i).unwrap() + 1, BACKOFF_CAP);
                assert!(*wait >= full / 2 && *wait <= full, "{wait:?} for {full:?}");
            }
            waits.push(these);
            let Some(PortalOutcome::Failed(FlowError::RetriesExhausted { attempts, last, .. })) =
                c.outcome()
            else {
                panic!()
            };
            assert_eq!(*attempts, MAX_ATTEMPTS);
            assert!(last.contains("TooManyRequestsException"), "{last}");
        }
        assert!(
            waits[0] != waits[1] || waits[1] != waits[2],
            "no jitter: {waits:?}"
        );
        // A burst that ends in time is absorbed.
        let mut c = call(GetRoleCredentials::new("1", "r"), t0, 9);
        run(&mut c, t0, |i| match i {
            0..=2 => error(PortalErrorCode::TooManyRequests, "slow down"),
            _ => ok(
                r#"{"roleCredentials":{"accessKeyId":"A","secretAccessKey":"s","sessionToken":"t","expiration":1906549200000}}"#,
            ),
        });
        assert!(matches!(c.outcome(), Some(PortalOutcome::Answered(_))));
    }

    #[test]
    fn refusals_say_what_to_do() {
        let t0 = Instant::now();
        let cases = [
            (
                PortalErrorCode::Unauthorized,
                "Session token not found or invalid",
                "sign in again",
                true,
            ),
            (
                PortalErrorCode::Forbidden,
                "No access",
                "no access to role Admin in account 1",
                false,
            ),
            (
                PortalErrorCode::ResourceNotFound,
                "missing",
                "check the account id and role name",
                false,
            ),
            (PortalErrorCode::InvalidRequest, "bad", "as invalid", false),
        ];
        for (code, message, says, sign_in) in cases {
            let mut c = call(GetRoleCredentials::new("1", "Admin"), t0, 1);
            let (sent, _) = run(&mut c, t0, |_| error(code.clone(), message));
            assert_eq!(sent.len(), 1, "{code:?} is not retried");
            let Some(PortalOutcome::Failed(failure)) = c.outcome() else {
                panic!()
            };
            let text = failure.to_string();
            assert!(text.contains(says) && text.contains(message), "{text}");
            assert_eq!(failure.needs_sign_in(), sign_in, "{text}");
        }
    }

    #[test]
    fn logout_posts_without_a_body() {
        let t0 = Instant::now();
        let mut c = call(Logout::new(), t0, 1);
        let (sent, _) = run(&mut c, t0, |_| ok(""));
        assert_eq!(sent, ["POST http://127.0.0.1:9/prefix/logout"]);
        assert_eq!(c.outcome(), Some(&PortalOutcome::Answered(())));
    }

    proptest! {
        #[test]
        fn every_call_ends_within_its_budget(
            answers in prop::collection::vec((prop_oneof![Just(200u16), Just(401), Just(403), Just(429), Just(500), 100u16..600], prop::collection::vec(any::<u8>(), 0..40), any::<bool>()), 1..30),
            seed in any::<u64>(),
        ) {
            let t0 = Instant::now();
            let mut c = call(ListAccounts::new(), t0, seed);
            let mut now = t0;
            let mut consecutive = 0;
            for (status, body, transport) in answers.iter().cycle().take(60) {
                if c.outcome().is_some() { break; }
                if let Some(tx) = c.poll_transmit(now) {
                    prop_assert!(c.poll_transmit(now).is_none(), "two requests in flight");
                    if *transport {
                        c.handle_transport_error(now, tx.id, TransportErrorKind::Timeout).unwrap();
                    } else {
                        let mut r = http::Response::new(body.clone());
                        *r.status_mut() = http::StatusCode::from_u16(*status).unwrap();
                        c.handle_response(now, SystemTime::UNIX_EPOCH, tx.id, r).unwrap();
                    }
                    consecutive += 1;
                    prop_assert!(consecutive <= MAX_ATTEMPTS * MAX_PAGES);
                }
                while let Some(event) = c.poll_event() {
                    if let Event::Retrying { attempt, wait, .. } = event {
                        prop_assert!(attempt < MAX_ATTEMPTS && wait <= BACKOFF_CAP);
                    }
                }
                match c.poll_timeout() {
                    Some(next) => now = now.max(next),
                    None => prop_assert!(c.outcome().is_some()),
                }
            }
            // Whatever the answers, the budget ends it: at most five
            // attempts per page, and no page here has a next token.
            prop_assert!(c.outcome().is_some(), "still calling after 60 answers");
        }
    }
}
