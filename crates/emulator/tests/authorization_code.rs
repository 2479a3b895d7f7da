//! The authorization-code grant with PKCE over HTTP, as the AWS CLI and a
//! browser without JavaScript run it: RegisterClient with a loopback redirect
//! URI, `GET /authorize` at the root, the consent page's Allow or Deny, the
//! redirect to the application's listener (followed by nobody here: the test
//! reads the Location), and CreateToken with the verifier.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use ssoflow_core::ErrorCode;
use ssoflow_core::pkce;
use ssoflow_core::secret::{AuthorizationCode, CodeVerifier};
use ssoflow_core::wire::{self, CreateTokenRequest, CreateTokenResponse, DEFAULT_SCOPE};
use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread};

/// RFC 7636 Appendix B: this verifier hashes to this challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const STATE: &str = "8f14e45f-ceea-467f-a0e8-5b1f7c2a9e10";
/// Where the application's listener would be; nothing listens, as the test
/// only reads the Location the browser would follow.
const CALLBACK: &str = "http://127.0.0.1:49152/oauth/callback";

/// Registers as the AWS CLI does for the PKCE flow, at `api` (the endpoint
/// URL, perhaps with a path prefix).
fn register_pkce(api: &str, name: &str) -> Client {
    let body = serde_json::json!({
        "clientName": name,
        "clientType": "public",
        "grantTypes": ["authorization_code", "refresh_token"],
        "redirectUris": [pkce::REGISTERED_REDIRECT_URI],
        "issuerUrl": START_URL,
        "scopes": [DEFAULT_SCOPE],
    });
    let registered: wire::RegisterClientResponse = ok(&post_json(
        &format!("{api}/client/register"),
        body.to_string(),
    ));
    Client {
        id: registered.client_id.unwrap(),
        secret: registered.client_secret.unwrap(),
    }
}

/// The query the AWS CLI sends to `/authorize` (`wire-protocol.md` §7).
fn authorize_query(client: &Client) -> String {
    format!(
        "response_type=code&client_id={}&redirect_uri={}&state={STATE}\
         &code_challenge_method=S256&scopes={}&code_challenge={CHALLENGE}",
        pkce::percent_encode(&client.id),
        pkce::percent_encode(CALLBACK),
        pkce::percent_encode(DEFAULT_SCOPE),
    )
}

fn authorize_url(emulator: &EmulatorThread, query: &str) -> String {
    format!("{}/authorize?{query}", emulator.base_url())
}

fn location(response: &http::Response<Vec<u8>>) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on a {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The code of a Location to the callback, checking `state` came back.
fn code_in(location: &str) -> AuthorizationCode {
    let query = location
        .strip_prefix(&format!("{CALLBACK}?"))
        .unwrap_or_else(|| panic!("not to the callback: {location}"));
    let params = pkce::parse_query(query).unwrap();
    assert_eq!(params.len(), 2, "{params:?}");
    assert_eq!(params[0].0, "code");
    assert_eq!(params[1], ("state".to_owned(), STATE.to_owned()));
    AuthorizationCode::new(params[0].1.clone())
}

fn exchange(
    api: &str,
    client: &Client,
    code: &AuthorizationCode,
    redirect_uri: &str,
    verifier: &str,
) -> http::Response<Vec<u8>> {
    let request = CreateTokenRequest::authorization_code(
        &client.id,
        &client.secret,
        code,
        redirect_uri,
        &CodeVerifier::new(verifier),
    );
    post_json(&format!("{api}/token"), wire::encode(&request))
}

fn refresh(api: &str, client: &Client, token: &CreateTokenResponse) -> http::Response<Vec<u8>> {
    let request = CreateTokenRequest::refresh_token(
        &client.id,
        &client.secret,
        token.refresh_token.as_ref().unwrap(),
    );
    post_json(&format!("{api}/token"), wire::encode(&request))
}

/// Opens `/authorize`, clicks `decision` on the consent page and returns the
/// answer to that click.
fn consent_and(
    browser: &mut Browser,
    emulator: &EmulatorThread,
    client: &Client,
    decision: &str,
) -> http::Response<Vec<u8>> {
    let page = browser.open(&authorize_url(emulator, &authorize_query(client)));
    assert_eq!(page.status, 200, "{}", page.html);
    browser.post_form(
        "/authorize/decide",
        &[
            ("csrf", &page.csrf()),
            ("id", &page.hidden("id")),
            ("decision", decision),
        ],
    )
}

/// Signs in through the consent page and returns the code.
fn allowed_code(
    browser: &mut Browser,
    emulator: &EmulatorThread,
    client: &Client,
) -> AuthorizationCode {
    let answer = consent_and(browser, emulator, client, "allow");
    assert_eq!(answer.status(), 303);
    code_in(&location(&answer))
}

#[test]
fn the_whole_exchange_signs_in_and_the_token_refreshes() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let api = emulator.base_url().to_owned();
    let client = register_pkce(&api, "botocore-client-my-sso");
    let mut browser = Browser::new(&emulator);

    let url = authorize_url(&emulator, &authorize_query(&client));
    let response = get(&url);
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Path=/authorize"), "{cookie}");
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("form-action 'self' http://127.0.0.1:49152;"),
        "the redirect after the form must be allowed: {policy}"
    );
    let page = browser.remember(&response);
    assert!(page.html.contains("Allow this sign-in?"));
    assert!(page.html.contains("botocore-client-my-sso"));
    assert!(page.html.contains("<code>sso:account:access</code>"));
    assert!(
        page.html
            .contains(r#"<strong id="redirect">127.0.0.1:49152</strong>"#)
    );
    assert!(page.html.contains(r#"action="/authorize/decide""#));
    let id = page.hidden("id");
    let pending = emulator.with_service(|s| s.pending_authorizations(SystemTime::now()));
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);

    let answer = browser.post_form(
        "/authorize/decide",
        &[("csrf", &page.csrf()), ("id", &id), ("decision", "allow")],
    );
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let location = location(&answer);
    assert!(
        location.starts_with(&format!("{CALLBACK}?code=")),
        "{location}"
    );
    let code = code_in(&location);

    let token: CreateTokenResponse = ok(&exchange(&api, &client, &code, CALLBACK, VERIFIER));
    assert!(
        token
            .access_token
            .as_ref()
            .unwrap()
            .secret()
            .starts_with("aoa")
    );
    assert_eq!(token.token_type.as_deref(), Some("Bearer"));
    let refreshed: CreateTokenResponse = ok(&refresh(&api, &client, &token));
    assert!(refreshed.access_token.is_some());
    assert_eq!(emulator.with_service(|s| s.counters().authorize), 1);
}

#[test]
fn deny_redirects_with_access_denied_and_no_code() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let client = register_pkce(emulator.base_url(), "denied-app");
    let mut browser = Browser::new(&emulator);
    let answer = consent_and(&mut browser, &emulator, &client, "deny");
    assert_eq!(answer.status(), 303);
    assert_eq!(
        location(&answer),
        format!("{CALLBACK}?error=access_denied&state={STATE}")
    );
    assert!(
        emulator
            .with_service(|s| s.pending_requests(SystemTime::now()))
            .is_empty()
    );
}

#[test]
fn every_bad_authorize_request_gets_a_400_page_and_no_redirect() {
    let mut config = EmulatorConfig::default();
    // A refusal is never turned into a redirect, auto-approval or not.
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    let emulator = EmulatorThread::start(config).unwrap();
    let api = emulator.base_url().to_owned();
    let client = register_pkce(&api, "bad-requests");
    let device_client = register(&api, "no-redirect-uris", &[DEFAULT_SCOPE]);
    let body = serde_json::json!({
        "clientName": "device-only", "clientType": "public",
        "grantTypes": [wire::GRANT_DEVICE_CODE, wire::GRANT_REFRESH_TOKEN],
        "redirectUris": [pkce::REGISTERED_REDIRECT_URI],
    });
    let registered: wire::RegisterClientResponse = ok(&post_json(
        &format!("{api}/client/register"),
        body.to_string(),
    ));
    let device_only = registered.client_id.unwrap();
    let expired = register_pkce(&api, "expired");
    emulator.with_service(|s| s.expire_registration(&expired.id));
    let good = authorize_query(&client);
    let callback = pkce::percent_encode(CALLBACK);
    let with = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replace(from, to)
    };
    let cases = [
        (String::new(), "client_id", "is missing"),
        (
            with(&client.id, "nobody"),
            "client_id",
            "names no registered client",
        ),
        (with(&client.id, &expired.id), "client_id", "expired"),
        (
            with(&client.id, &device_only),
            "client_id",
            "not registered for the authorization_code grant",
        ),
        (
            with(&format!("redirect_uri={callback}&"), ""),
            "redirect_uri",
            "is missing",
        ),
        (
            // Registered without redirect URIs, so none can match.
            with(&client.id, &device_client.id),
            "redirect_uri",
            "not one of the client&#39;s registered redirect URIs",
        ),
        (
            with(
                &callback,
                &pkce::percent_encode("https://evil.example/oauth/callback"),
            ),
            "redirect_uri",
            "https://evil.example/oauth/callback",
        ),
        (
            with(
                &callback,
                &pkce::percent_encode("http://127.0.0.1:49152/elsewhere"),
            ),
            "redirect_uri",
            "/elsewhere",
        ),
        (
            with("response_type=code&", ""),
            "response_type",
            "is missing",
        ),
        (
            with("response_type=code", "response_type=token"),
            "response_type",
            "only &quot;code&quot;",
        ),
        (
            with("code_challenge_method=S256", "code_challenge_method=plain"),
            "code_challenge_method",
            "only &quot;S256&quot;",
        ),
        (
            with("code_challenge_method=S256&", ""),
            "code_challenge_method",
            "is missing",
        ),
        (
            with(&format!("&code_challenge={CHALLENGE}"), ""),
            "code_challenge",
            "is missing",
        ),
        (with(CHALLENGE, "abc"), "code_challenge", "43 base64url"),
        (
            with(
                "scopes=sso%3Aaccount%3Aaccess",
                "scopes=sso%3Aaccount%3Aaccess%20admin",
            ),
            "scopes",
            "&quot;admin&quot; is not one of",
        ),
        (
            with(CHALLENGE, &format!("{CHALLENGE}%3D")),
            "code_challenge",
            "43 base64url",
        ),
        (format!("{good}&state=again"), "state", "more than once"),
        (format!("client_id=a&{good}"), "client_id", "more than once"),
    ];
    for (query, parameter, says) in cases {
        let response = get(&authorize_url(&emulator, &query));
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.headers().get("location").is_none(), "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        let html = String::from_utf8(response.body().clone()).unwrap();
        assert!(
            html.contains(&format!(r#"data-parameter="{parameter}""#)),
            "{query}: {html}"
        );
        assert!(
            html.contains(parameter) && html.contains(says),
            "{query}: {html}"
        );
        assert!(html.contains(r#"data-outcome="refused""#));
    }
    // Longer than any real request: refused whole, no parameter to blame.
    let long = get(&authorize_url(
        &emulator,
        &format!("{good}&pad={}", "x".repeat(pkce::MAX_QUERY_LEN)),
    ));
    assert_eq!(long.status(), 400);
    assert!(long.headers().get("location").is_none());
    let html = String::from_utf8(long.body().clone()).unwrap();
    assert!(html.contains("longer than 8192 bytes"), "{html}");
    assert!(
        emulator
            .with_service(|s| s.pending_requests(SystemTime::now()))
            .is_empty()
    );
}

#[test]
fn a_bad_exchange_is_an_invalid_grant() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let api = emulator.base_url().to_owned();
    let client = register_pkce(&api, "exchanges");
    let mut browser = Browser::new(&emulator);
    let code = allowed_code(&mut browser, &emulator, &client);

    let other_verifier = "A".repeat(64);
    for (redirect_uri, verifier) in [
        (CALLBACK, other_verifier.as_str()),
        ("http://127.0.0.1:49153/oauth/callback", VERIFIER),
        (pkce::REGISTERED_REDIRECT_URI, VERIFIER),
    ] {
        let response = exchange(&api, &client, &code, redirect_uri, verifier);
        assert_api_headers(&response);
        let error = error_of(&response);
        assert_eq!((error.code, error.status), (ErrorCode::InvalidGrant, 400));
        assert_eq!(
            response.headers()["x-amzn-errortype"]
                .to_str()
                .unwrap()
                .split(':')
                .next(),
            Some("InvalidGrantException")
        );
    }

    // The right one still works, once; a second use revokes what it issued.
    let token: CreateTokenResponse = ok(&exchange(&api, &client, &code, CALLBACK, VERIFIER));
    let reused = exchange(&api, &client, &code, CALLBACK, VERIFIER);
    let error = error_of(&reused);
    assert_eq!(error.code, ErrorCode::InvalidGrant);
    assert!(
        error.description.unwrap().contains("already been used"),
        "{reused:?}"
    );
    assert_eq!(
        error_of(&refresh(&api, &client, &token)).code,
        ErrorCode::InvalidGrant
    );
}

#[test]
fn an_expired_code_is_an_invalid_grant() {
    let mut config = EmulatorConfig::default();
    config.service.authorization_code_ttl = Duration::from_secs(1);
    let emulator = EmulatorThread::start(config).unwrap();
    let api = emulator.base_url().to_owned();
    let client = register_pkce(&api, "slow-exchange");
    let mut browser = Browser::new(&emulator);
    let code = allowed_code(&mut browser, &emulator, &client);
    std::thread::sleep(Duration::from_millis(1100));
    let error = error_of(&exchange(&api, &client, &code, CALLBACK, VERIFIER));
    assert_eq!(error.code, ErrorCode::InvalidGrant);
    assert!(error.description.unwrap().contains("expired"));
}

#[test]
fn auto_approve_redirects_at_once() {
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    let emulator = EmulatorThread::start(config).unwrap();
    let api = emulator.base_url().to_owned();
    let client = register_pkce(&api, "unattended");
    let answer = get(&authorize_url(&emulator, &authorize_query(&client)));
    assert_eq!(answer.status(), 302);
    let code = code_in(&location(&answer));
    ok::<CreateTokenResponse>(&exchange(&api, &client, &code, CALLBACK, VERIFIER));
}

#[test]
fn authorize_is_at_the_root_when_the_api_has_a_path_prefix() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    // AWS_ENDPOINT_URL_SSO_OIDC=http://127.0.0.1:PORT/some/prefix: the API
    // calls carry the prefix, the browser goes to the root (wire-protocol §7).
    let api = format!("{}/some/prefix", emulator.base_url());
    let client = register_pkce(&api, "prefixed");
    let mut browser = Browser::new(&emulator);
    let code = allowed_code(&mut browser, &emulator, &client);
    ok::<CreateTokenResponse>(&exchange(&api, &client, &code, CALLBACK, VERIFIER));
    // Under the prefix there is no such operation.
    let prefixed = get(&format!("{api}/authorize?{}", authorize_query(&client)));
    assert_eq!(prefixed.status(), 404);
    assert_eq!(
        error_of(&prefixed).code.shape(),
        "UnknownOperationException"
    );
}

#[test]
fn decisions_need_the_pages_csrf_token_and_count_once() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let client = register_pkce(emulator.base_url(), "csrf");
    let mut browser = Browser::new(&emulator);
    let page = browser.open(&authorize_url(&emulator, &authorize_query(&client)));
    let (csrf, id) = (page.csrf(), page.hidden("id"));

    // A cross-site post carries no cookie (SameSite=Strict keeps it home).
    let mut attacker = Browser::new(&emulator);
    let forged = attacker.post_form(
        "/authorize/decide",
        &[("csrf", &csrf), ("id", &id), ("decision", "allow")],
    );
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get("location").is_none());
    assert_eq!(
        emulator
            .with_service(|s| s.pending_authorizations(SystemTime::now()))
            .len(),
        1,
        "still pending"
    );

    let fields = [("csrf", csrf.as_str()), ("id", &id), ("decision", "allow")];
    assert_eq!(
        browser.post_form("/authorize/decide", &fields).status(),
        303
    );
    let replay = browser.post_form("/authorize/decide", &fields);
    assert_eq!(replay.status(), 403);
    assert!(replay.headers().get("location").is_none());

    // A fresh form for a request already decided says so.
    let other = browser.open(&authorize_url(&emulator, &authorize_query(&client)));
    let answer = browser.post_form(
        "/authorize/decide",
        &[("csrf", &other.csrf()), ("id", &id), ("decision", "deny")],
    );
    assert_eq!(answer.status(), 409);
    assert!(answer.headers().get("location").is_none());
}

#[test]
fn a_request_left_too_long_expires() {
    let mut config = EmulatorConfig::default();
    config.service.authorization_request_ttl = Duration::from_secs(1);
    let emulator = EmulatorThread::start(config).unwrap();
    let client = register_pkce(emulator.base_url(), "slow-person");
    let mut browser = Browser::new(&emulator);
    let page = browser.open(&authorize_url(&emulator, &authorize_query(&client)));
    std::thread::sleep(Duration::from_millis(1100));
    let answer = browser.post_form(
        "/authorize/decide",
        &[
            ("csrf", &page.csrf()),
            ("id", &page.hidden("id")),
            ("decision", "allow"),
        ],
    );
    assert_eq!(answer.status(), 410);
    assert!(answer.headers().get("location").is_none());
    let page = browser.remember(&answer);
    assert_eq!(page.outcome(), Some("expired"));
}
