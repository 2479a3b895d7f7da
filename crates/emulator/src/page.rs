//! The pages a person visits: the device flow's verification page (type or
//! confirm the user code, see which client asks for which scopes, Allow or
//! Deny, see the outcome), and the authorization-code grant's `/authorize`,
//! which shows the same consent page and then sends the browser back to the
//! application's redirect URI.
//!
//! Plain server-rendered HTML with inline CSS. Every form carries a one-time
//! CSRF token that must match a `SameSite=Strict` cookie set with it and must
//! have been issued by this emulator in the last 15 minutes; an address that
//! enters too many unknown codes is locked out for a while. The pages send a
//! strict Content-Security-Policy and forbid framing, since an Allow button
//! in someone else's frame could be clicked by trickery.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::Form;
use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use ssoflow_test_transport::{
    ApprovalError, AuthorizeRefusal, AuthorizeStep, PendingAuthorization, PendingInfo,
};

use crate::{AUTHORIZE_PATH, Shared, VERIFICATION_PATH};

/// The cookie that carries the CSRF token beside the form field.
const CSRF_COOKIE: &str = "ssoflow_emulator_csrf";

/// How long a rendered form can be submitted.
const CSRF_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// At most this many unexpired CSRF tokens are kept; beyond it the oldest go,
/// so a flood of page loads cannot grow memory without bound.
const CSRF_CAPACITY: usize = 10_000;

/// Wrong codes older than this are forgotten.
const WRONG_CODE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The Content-Security-Policy of every page; a consent page for the
/// authorization-code grant adds the redirect URI's origin to `form-action`,
/// because browsers (Chromium at least) apply it to the redirect that follows
/// the form's submission too.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// The verification page's memory: CSRF tokens and wrong-code counts.
pub(crate) struct PageGuard {
    state: Mutex<GuardState>,
    wrong_code_limit: u32,
    lockout: Duration,
}

#[derive(Default)]
struct GuardState {
    /// Token → when it stops being accepted.
    csrf: HashMap<String, Instant>,
    wrong_codes: HashMap<IpAddr, WrongCodes>,
}

struct WrongCodes {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

impl PageGuard {
    pub(crate) fn new(wrong_code_limit: u32, lockout: Duration) -> PageGuard {
        PageGuard {
            state: Mutex::new(GuardState::default()),
            wrong_code_limit: wrong_code_limit.max(1),
            lockout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh one-time token, or `None` if the system's random source failed.
    fn issue_csrf(&self, now: Instant) -> Option<String> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).ok()?;
        let token = bytes.iter().fold(String::with_capacity(48), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
        let mut state = self.lock();
        state.csrf.retain(|_, expires| *expires > now);
        if state.csrf.len() >= CSRF_CAPACITY {
            let oldest = state
                .csrf
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(token, _)| token.clone());
            if let Some(oldest) = oldest {
                state.csrf.remove(&oldest);
            }
        }
        state.csrf.insert(token.clone(), now + CSRF_LIFETIME);
        Some(token)
    }

    /// Whether the form's token matches the cookie and is a live token of
    /// ours. A matching token is spent whether live or not; one without its
    /// cookie is left alone, so a forged cross-site post cannot burn the
    /// person's open form.
    fn take_csrf(&self, form_token: &str, headers: &HeaderMap, now: Instant) -> bool {
        if cookie(headers, CSRF_COOKIE).as_deref() != Some(form_token) {
            return false;
        }
        self.lock()
            .csrf
            .remove(form_token)
            .is_some_and(|expires| expires > now)
    }

    /// How long `ip` must still wait, if it is locked out.
    fn locked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut state = self.lock();
        let entry = state.wrong_codes.get_mut(&ip)?;
        match entry.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                state.wrong_codes.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Counts an unknown code from `ip`; returns the lockout it earned, if any.
    fn record_wrong_code(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut state = self.lock();
        state.wrong_codes.retain(|_, w| {
            w.locked_until.is_some() || now.duration_since(w.last) < WRONG_CODE_WINDOW
        });
        let entry = state.wrong_codes.entry(ip).or_insert(WrongCodes {
            count: 0,
            last: now,
            locked_until: None,
        });
        entry.count += 1;
        entry.last = now;
        if entry.count >= self.wrong_code_limit {
            entry.locked_until = Some(now + self.lockout);
            Some(self.lockout)
        } else {
            None
        }
    }
}

/// `GET /device?user_code=…` (the query is optional).
#[derive(Debug, Deserialize)]
pub(crate) struct EnterQuery {
    #[serde(default)]
    user_code: String,
}

/// `POST /device`: the code the person typed.
#[derive(Debug, Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /device/decide`: Allow or Deny for a code already reviewed.
#[derive(Debug, Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
}

/// `POST /authorize/decide`: Allow or Deny for an `/authorize` request.
#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizationForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
}

pub(crate) async fn enter_code(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<EnterQuery>,
) -> Response {
    code_form(&shared, StatusCode::OK, &query.user_code, None)
}

pub(crate) async fn review(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let now = Instant::now();
    if let Some(refusal) = turned_away(
        &shared,
        peer.ip(),
        &headers,
        &form.csrf,
        &form.user_code,
        now,
    ) {
        return refusal;
    }
    let code = form.user_code.trim();
    if code.is_empty() {
        return code_form(
            &shared,
            StatusCode::BAD_REQUEST,
            "",
            Some("Type the code the application shows you."),
        );
    }
    match shared.read_service(|service| service.lookup(code, SystemTime::now())) {
        Ok(info) => consent(&shared, &info),
        Err(error) => refused(&shared, peer.ip(), code, error, now),
    }
}

pub(crate) async fn decide(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Response {
    let now = Instant::now();
    if let Some(refusal) = turned_away(
        &shared,
        peer.ip(),
        &headers,
        &form.csrf,
        &form.user_code,
        now,
    ) {
        return refusal;
    }
    let code = form.user_code.trim();
    let allow = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => {
            return code_form(
                &shared,
                StatusCode::BAD_REQUEST,
                code,
                Some("Choose Allow or Deny."),
            );
        }
    };
    let outcome = shared.with_service(|service| {
        let wall = SystemTime::now();
        let info = service.lookup(code, wall)?;
        if allow {
            service.approve(code, wall)?;
        } else {
            service.deny(code, wall)?;
        }
        Ok::<PendingInfo, ApprovalError>(info)
    });
    match outcome {
        Ok(info) => decided(&info, allow),
        Err(error) => refused(&shared, peer.ip(), code, error, now),
    }
}

/// The answer to a form post that may not go further, if any: locked-out
/// addresses first (so a guesser learns nothing more), then the CSRF check.
fn turned_away(
    shared: &Shared,
    ip: IpAddr,
    headers: &HeaderMap,
    csrf: &str,
    typed_code: &str,
    now: Instant,
) -> Option<Response> {
    if let Some(wait) = shared.page.locked_for(ip, now) {
        return Some(locked_out(wait));
    }
    if !shared.page.take_csrf(csrf, headers, now) {
        return Some(stale_form(shared, typed_code));
    }
    None
}

/// `GET /authorize?…`, served at the root whatever path prefix the API is
/// used under (the AWS CLI drops the endpoint's path, `wire-protocol.md` §7).
/// A valid request gets the consent page, or with auto-approval a `302` to
/// the redirect URI at once; a bad one gets a 400 page saying what is wrong,
/// never a redirect (the redirect URI may be the very thing that is wrong).
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let step = shared.with_service(|service| service.authorize(SystemTime::now(), &query));
    match step {
        Ok(AuthorizeStep::Consent(pending)) => authorization_consent(&shared, &pending),
        Ok(AuthorizeStep::Redirect(location)) => redirect(StatusCode::FOUND, &location),
        Err(refusal) => authorize_refused(&refusal),
    }
}

/// `POST /authorize/decide`: the consent page's Allow or Deny, answered
/// with `303 See Other` to the redirect URI with the code or `access_denied`.
/// The same CSRF check as the verification page's forms; no lockout, because
/// a request id (128 random bits) leaves nothing to guess.
pub(crate) async fn decide_authorization(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<AuthorizationForm>,
) -> Response {
    if !shared.page.take_csrf(&form.csrf, &headers, Instant::now()) {
        return authorize_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "stale",
            "This form has expired or did not come from this page. Start the sign-in again in \
             the application (cookies must be allowed for this site).",
        );
    }
    let approve = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => {
            return authorize_page(
                StatusCode::BAD_REQUEST,
                "Choose Allow or Deny",
                "error",
                "Choose Allow or Deny. Start the sign-in again in the application to get a new \
                 form.",
            );
        }
    };
    let decided = shared
        .with_service(|service| service.decide_authorization(SystemTime::now(), &form.id, approve));
    match decided {
        Ok(location) => redirect(StatusCode::SEE_OTHER, &location),
        Err(error) => authorization_not_decidable(error),
    }
}

/// The answer to a code that cannot be decided; unknown codes count towards
/// the lockout.
fn refused(
    shared: &Shared,
    ip: IpAddr,
    code: &str,
    error: ApprovalError,
    now: Instant,
) -> Response {
    let shown = escape(code);
    match error {
        // A user code is looked up, never a request id; both are unknown alike.
        ApprovalError::UnknownCode | ApprovalError::UnknownRequest => {
            if let Some(wait) = shared.page.record_wrong_code(ip, now) {
                return locked_out(wait);
            }
            code_form(
                shared,
                StatusCode::NOT_FOUND,
                code,
                Some(&format!(
                    "No sign-in request has the code <strong>{shown}</strong>. Check it against \
                     the code the application shows and try again."
                )),
            )
        }
        ApprovalError::Expired => message_page(
            StatusCode::GONE,
            "Code expired",
            "expired",
            &format!(
                "The code <strong>{shown}</strong> has expired. Start the sign-in again in the \
                 application to get a new code."
            ),
        ),
        ApprovalError::AlreadyUsed => message_page(
            StatusCode::CONFLICT,
            "Code already used",
            "used",
            &format!(
                "The code <strong>{shown}</strong> has already been used: someone allowed or \
                 denied this request before. Start the sign-in again if you need a new one."
            ),
        ),
        ApprovalError::RandomUnavailable => no_randomness(),
    }
}

/// The page for a consent form whose request can no longer be decided.
fn authorization_not_decidable(error: ApprovalError) -> Response {
    match error {
        ApprovalError::UnknownRequest | ApprovalError::UnknownCode => authorize_page(
            StatusCode::NOT_FOUND,
            "Unknown sign-in request",
            "unknown",
            "This emulator has no such sign-in request (it may have been restarted without a \
             state file). Start the sign-in again in the application.",
        ),
        ApprovalError::Expired => authorize_page(
            StatusCode::GONE,
            "Sign-in request expired",
            "expired",
            "This sign-in request has expired. Start the sign-in again in the application.",
        ),
        ApprovalError::AlreadyUsed => authorize_page(
            StatusCode::CONFLICT,
            "Sign-in request already decided",
            "used",
            "This sign-in request was already allowed or denied. Start the sign-in again if you \
             need a new one.",
        ),
        ApprovalError::RandomUnavailable => no_randomness(),
    }
}

/// The 400 page for a bad `/authorize` request (500 if the service could not
/// draw a random id), naming what is wrong; never a redirect.
fn authorize_refused(refusal: &AuthorizeRefusal) -> Response {
    let status = match refusal {
        AuthorizeRefusal::RandomUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let parameter = refusal
        .parameter()
        .map(|name| format!(r#" data-parameter="{}""#, escape(name)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>This sign-in request cannot be used</h1>
<p id="result" data-outcome="refused"{parameter}>The application sent a sign-in request that this
service refuses: {reason}.</p>
<p>Start the sign-in again in the application. If this keeps happening, the application (or its
configuration) has a bug.</p>"#,
        reason = escape(&refusal.to_string()),
    );
    html(status, "Sign-in request refused", &body)
}

/// A redirect to `location` (the application's redirect URI), or a 500 page
/// if it cannot be a header value (the service only accepts printable ASCII
/// redirect URIs, so this does not happen).
fn redirect(status: StatusCode, location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return authorize_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot redirect",
            "error",
            "The redirect URI cannot be sent in a Location header.",
        );
    };
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, value);
    // The Location carries the authorization code.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn code_form(shared: &Shared, status: StatusCode, code: &str, message: Option<&str>) -> Response {
    let Some(csrf) = shared.page.issue_csrf(Instant::now()) else {
        return no_randomness();
    };
    let message = message
        .map(|m| format!(r#"<p class="error" id="message">{m}</p>"#))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Sign in a device</h1>
<p>Enter the code that the application asking to sign in shows you.</p>
{message}
<form method="post" action="{VERIFICATION_PATH}">
  <input type="hidden" name="csrf" value="{csrf}">
  <label for="user_code">Code</label>
  <input id="user_code" name="user_code" value="{code}" placeholder="XXXX-XXXX"
         autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="64" required autofocus>
  <button id="next" type="submit">Next</button>
</form>"#,
        code = escape(code),
    );
    with_csrf_cookie(
        html(status, "Sign in a device", &body),
        &csrf,
        VERIFICATION_PATH,
    )
}

/// What a consent page asks about. Both grants show the same page; only
/// what the person checks, and where the form goes, differ.
struct ConsentRequest<'a> {
    client_name: &'a str,
    scopes: &'a [String],
    expires_at: SystemTime,
    subject: Subject<'a>,
}

enum Subject<'a> {
    /// The device flow: compare the code with the one the application shows.
    UserCode(&'a str),
    /// The authorization-code grant: the browser then goes back to the
    /// application's redirect URI.
    Redirect {
        id: &'a str,
        host: &'a str,
        /// The redirect URI as a CSP source for `form-action`.
        origin: Option<String>,
    },
}

fn consent(shared: &Shared, info: &PendingInfo) -> Response {
    render_consent(
        shared,
        &ConsentRequest {
            client_name: &info.client_name,
            scopes: &info.scopes,
            expires_at: info.expires_at,
            subject: Subject::UserCode(&info.user_code),
        },
    )
}

fn authorization_consent(shared: &Shared, pending: &PendingAuthorization) -> Response {
    render_consent(
        shared,
        &ConsentRequest {
            client_name: &pending.client_name,
            scopes: &pending.scopes,
            expires_at: pending.expires_at,
            subject: Subject::Redirect {
                id: &pending.id,
                host: &pending.redirect_host,
                origin: csp_origin(&pending.redirect_uri, &pending.redirect_host),
            },
        },
    )
}

/// A redirect URI as a CSP source: `scheme://host[:port]` for a host of
/// letters, digits, dots and dashes with an optional numeric port; for
/// anything else (IPv6 literals, which CSP sources cannot name) the scheme
/// alone, `http:`, which is weaker but lets the redirect through. `None` for
/// a scheme other than http(s), which registration does not let through.
fn csp_origin(redirect_uri: &str, host: &str) -> Option<String> {
    let scheme = redirect_uri.split_once("://")?.0;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let (name, port) = host.split_once(':').unwrap_or((host, ""));
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.bytes().all(|b| b.is_ascii_digit());
    Some(if plain {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}:")
    })
}

fn render_consent(shared: &Shared, request: &ConsentRequest<'_>) -> Response {
    let Some(csrf) = shared.page.issue_csrf(Instant::now()) else {
        return no_randomness();
    };
    let client = if request.client_name.is_empty() {
        "An unnamed application".to_owned()
    } else {
        format!(
            "<strong id=\"client\">{}</strong>",
            escape(request.client_name)
        )
    };
    let scopes = if request.scopes.is_empty() {
        "<p id=\"scopes\">It asks for no scopes: a legacy sign-in whose token cannot be \
         refreshed.</p>"
            .to_owned()
    } else {
        let items: String = request
            .scopes
            .iter()
            .map(|scope| format!("<li><code>{}</code></li>", escape(scope)))
            .collect();
        format!("<p>It asks for these scopes:</p><ul id=\"scopes\">{items}</ul>")
    };
    let minutes_left = request
        .expires_at
        .duration_since(SystemTime::now())
        .map_or(0, |left| left.as_secs().div_ceil(60));
    let (check, action, field, cookie_path) = match &request.subject {
        Subject::UserCode(code) => {
            let code = escape(code);
            (
                format!(
                    r#"Check that the application shows the same code: <strong class="code" id="code">{code}</strong>
(it expires in {minutes_left} min)."#
                ),
                format!("{VERIFICATION_PATH}/decide"),
                format!(r#"<input type="hidden" name="user_code" value="{code}">"#),
                VERIFICATION_PATH,
            )
        }
        Subject::Redirect { id, host, .. } => (
            format!(
                r#"Your browser then goes back to the application at <strong id="redirect">{}</strong>.
This request expires in {minutes_left} min."#,
                escape(host)
            ),
            format!("{AUTHORIZE_PATH}/decide"),
            format!(r#"<input type="hidden" name="id" value="{}">"#, escape(id)),
            AUTHORIZE_PATH,
        ),
    };
    let body = format!(
        r#"<h1>Allow this sign-in?</h1>
<p>{client} wants to sign in on your behalf.</p>
{scopes}
<p>{check}</p>
<form method="post" action="{action}" class="decide">
  <input type="hidden" name="csrf" value="{csrf}">
  {field}
  <button id="allow" type="submit" name="decision" value="allow">Allow</button>
  <button id="deny" type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>"#
    );
    let mut response = html(StatusCode::OK, "Allow this sign-in?", &body);
    if let Subject::Redirect {
        origin: Some(origin),
        ..
    } = &request.subject
    {
        let policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    with_csrf_cookie(response, &csrf, cookie_path)
}

fn decided(info: &PendingInfo, allowed: bool) -> Response {
    let client = if info.client_name.is_empty() {
        "The application".to_owned()
    } else {
        escape(&info.client_name)
    };
    if allowed {
        message_page(
            StatusCode::OK,
            "Sign-in allowed",
            "allowed",
            &format!(
                "You allowed the sign-in. {client} will finish signing in on its own; you can \
                 close this page."
            ),
        )
    } else {
        message_page(
            StatusCode::OK,
            "Sign-in denied",
            "denied",
            &format!("You denied the sign-in. {client} will not be signed in."),
        )
    }
}

fn stale_form(shared: &Shared, code: &str) -> Response {
    code_form(
        shared,
        StatusCode::FORBIDDEN,
        code,
        Some(
            "This form has expired or did not come from this page. Submit it again from here \
             (cookies must be allowed for this site).",
        ),
    )
}

fn locked_out(wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let mut response = message_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many wrong codes",
        "locked",
        &format!(
            "Too many wrong codes were entered from your address. Wait {seconds} seconds, then \
             try again with the code the application shows."
        ),
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn no_randomness() -> Response {
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Try again",
        "error",
        "The emulator could not draw a random form token. Reload the page to try again.",
    )
}

/// A page of the verification page with one message; `outcome` lands in
/// `data-outcome` for tests and scripts.
fn message_page(status: StatusCode, title: &str, outcome: &str, message: &str) -> Response {
    let body = format!(
        r#"<h1>{title}</h1>
<p id="result" data-outcome="{outcome}">{message}</p>
<p><a href="{VERIFICATION_PATH}">Enter another code</a></p>"#
    );
    html(status, title, &body)
}

/// A page of `/authorize` with one message: as [`message_page`], without the
/// link to enter a device code, which means nothing to this flow.
fn authorize_page(status: StatusCode, title: &str, outcome: &str, message: &str) -> Response {
    let body = format!(
        r#"<h1>{title}</h1>
<p id="result" data-outcome="{outcome}">{message}</p>"#
    );
    html(status, title, &body)
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · ssoflow emulator</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #16191f; }}
  main {{ max-width: 26rem; margin: 2rem auto; padding: 1.5rem; background: #fff;
          border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.15); }}
  h1 {{ font-size: 1.4rem; margin-top: 0; }}
  label {{ display: block; font-weight: 600; margin-bottom: .25rem; }}
  input {{ width: 100%; box-sizing: border-box; font: 1.3rem ui-monospace, monospace;
           letter-spacing: .1em; padding: .5rem; text-transform: uppercase;
           border: 1px solid #8d99a8; border-radius: 4px; }}
  button {{ font-size: 1rem; padding: .6rem 1.4rem; margin: 1rem .5rem 0 0; border: 0;
            border-radius: 4px; background: #0972d3; color: #fff; cursor: pointer; }}
  button.secondary {{ background: #e9ebed; color: #16191f; }}
  .code {{ font-family: ui-monospace, monospace; letter-spacing: .1em; }}
  .error {{ color: #b0251a; }}
  footer {{ text-align: center; font-size: .8rem; color: #5f6b7a; }}
</style>
</head>
<body>
<main>
{body}
</main>
<footer>ssoflow emulator: a stand-in for AWS IAM Identity Center, for testing only.</footer>
</body>
</html>
"#,
        title = escape(title),
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Sets the CSRF cookie for the forms under `path` only, so the two flows'
/// pages keep their tokens apart.
fn with_csrf_cookie(mut response: Response, token: &str, path: &str) -> Response {
    let cookie = format!("{CSRF_COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Escapes text for HTML element content and double-quoted attributes: client
/// names and scopes come from whoever registered, so they are untrusted.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn csp_origins_only_for_plain_hosts() {
        assert_eq!(
            csp_origin("http://127.0.0.1:49152/oauth/callback", "127.0.0.1:49152").as_deref(),
            Some("http://127.0.0.1:49152")
        );
        assert_eq!(
            csp_origin("https://app.example/cb", "app.example").as_deref(),
            Some("https://app.example")
        );
        // CSP sources cannot name IPv6 literals: the scheme alone then.
        assert_eq!(
            csp_origin("http://[::1]:5/cb", "[::1]:5").as_deref(),
            Some("http:")
        );
        assert_eq!(csp_origin("http://a;b/cb", "a;b").as_deref(), Some("http:"));
        assert_eq!(csp_origin("myapp:/cb", "x"), None);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; ssoflow_emulator_csrf=abc"),
        );
        assert_eq!(cookie(&headers, CSRF_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn a_csrf_token_works_once_and_only_with_its_cookie() {
        let guard = PageGuard::new(5, Duration::from_secs(60));
        let now = Instant::now();
        let token = guard.issue_csrf(now).unwrap();
        let mut with_cookie = HeaderMap::new();
        with_cookie.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{CSRF_COOKIE}={token}")).unwrap(),
        );
        assert!(
            !guard.take_csrf(&token, &HeaderMap::new(), now),
            "no cookie"
        );
        let token = guard.issue_csrf(now).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{CSRF_COOKIE}={token}")).unwrap(),
        );
        assert!(guard.take_csrf(&token, &headers, now));
        assert!(!guard.take_csrf(&token, &headers, now), "spent");
        let late = guard.issue_csrf(now).unwrap();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{CSRF_COOKIE}={late}")).unwrap(),
        );
        assert!(
            !guard.take_csrf(&late, &headers, now + CSRF_LIFETIME),
            "expired"
        );
    }

    #[test]
    fn the_lockout_starts_at_the_limit_and_ends_after_its_time() {
        let guard = PageGuard::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let now = Instant::now();
        assert_eq!(guard.record_wrong_code(ip, now), None);
        assert_eq!(guard.record_wrong_code(ip, now), None);
        assert_eq!(
            guard.record_wrong_code(ip, now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            guard.locked_for(ip, now + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(guard.locked_for(other, now), None);
        assert_eq!(guard.locked_for(ip, now + Duration::from_secs(60)), None);
        // The count starts over after the lockout.
        assert_eq!(
            guard.record_wrong_code(ip, now + Duration::from_secs(61)),
            None
        );
    }

    #[test]
    fn wrong_codes_are_forgotten_after_the_window() {
        let guard = PageGuard::new(2, Duration::from_secs(60));
        let ip: IpAddr = "::1".parse().unwrap();
        let now = Instant::now();
        assert_eq!(guard.record_wrong_code(ip, now), None);
        assert_eq!(guard.record_wrong_code(ip, now + WRONG_CODE_WINDOW), None);
    }
}
