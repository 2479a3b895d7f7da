//! The SSO portal API over real HTTP, with tokens signed in for through the
//! emulator's own device flow: the four operations, their errors as a client
//! sees them, faults and counters through the admin API, `--accounts FILE`
//! and `--role-session-ttl` through the binary, and the state file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{Value, json};
use ssoflow_core::pkce;
use ssoflow_core::portal::{PortalError, PortalErrorCode};
use ssoflow_core::secret::AccessToken;
use ssoflow_core::wire::{
    CreateTokenResponse, GetRoleCredentialsResponse, ListAccountRolesResponse, ListAccountsResponse,
};
use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread, PortalAccount, ServiceConfig};

const DEV: &str = "111122223333";
const PROD: &str = "444455556666";

fn auto_approving() -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterPolls(1));
    config
}

/// A device-flow sign-in through the emulator at `base`, which must approve
/// by itself; returns the token response.
fn sign_in(base: &str) -> CreateTokenResponse {
    let client = register(base, "portal-test", &["sso:account:access"]);
    let started = start_authorization(base, &client);
    ok(&poll(base, &client, &started.device_code.unwrap()))
}

fn access_token(base: &str) -> AccessToken {
    sign_in(base).access_token.unwrap()
}

/// A portal call as botocore makes it: the token in `x-amz-sso_bearer_token`
/// only, no body, `Content-Length: 0` on the POST.
fn portal(method: &str, url: &str, token: Option<&AccessToken>) -> http::Response<Vec<u8>> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(url)
        .header("accept-encoding", "identity");
    if let Some(token) = token {
        request = request.header("x-amz-sso_bearer_token", token.secret());
    }
    let response = send_request(request.body(Vec::new()).unwrap()).unwrap();
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/json");
    let id = headers["requestid"].to_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(headers["x-amzn-requestid"], id);
    response
}

fn credentials_url(base: &str, account: &str, role: &str) -> String {
    format!(
        "{base}/federation/credentials?role_name={}&account_id={}",
        pkce::percent_encode(role),
        pkce::percent_encode(account)
    )
}

fn portal_error(response: &http::Response<Vec<u8>>) -> PortalError {
    let error = PortalError::from_response(response)
        .unwrap_or_else(|| panic!("not an error: {}", response.status()));
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body["__type"],
        format!("com.amazonaws.switchboard.portal#{}", error.code.shape())
    );
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        error.code.shape(),
        "both forms of the code (§8.2)"
    );
    error
}

fn assert_portal_error(response: &http::Response<Vec<u8>>, code: PortalErrorCode, message: &str) {
    let error = portal_error(response);
    assert_eq!(error.status, code.status());
    assert_eq!(error.code, code);
    let text = error.message.unwrap_or_default();
    assert!(text.contains(message), "{text:?} lacks {message:?}");
}

fn admin(emulator_base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{emulator_base}/_emulator{path}");
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let response = send(method, &url, Some("application/json"), body).unwrap();
    let value = serde_json::from_slice(response.body()).unwrap();
    (response.status().as_u16(), value)
}

/// Every page of ListAccounts at this page size, following `nextToken`.
fn list_all_accounts(base: &str, token: &AccessToken, max_result: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut url = format!("{base}/assignment/accounts?max_result={max_result}");
        if let Some(next) = &next {
            url.push_str(&format!("&next_token={}", pkce::percent_encode(next)));
        }
        let page: ListAccountsResponse = ok(&portal("GET", &url, Some(token)));
        pages.push(
            page.account_list
                .unwrap()
                .into_iter()
                .map(|a| a.account_id.unwrap())
                .collect(),
        );
        match page.next_token {
            Some(token) => next = Some(token),
            None => return pages,
        }
        assert!(pages.len() < 50, "pagination does not end");
    }
}

fn epoch_ms(time: SystemTime) -> i64 {
    i64::try_from(time.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ssoflow-emulator-portal-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_device_flow_token_lists_accounts_and_roles_gets_credentials_and_logs_out() {
    let emulator = EmulatorThread::start(auto_approving()).unwrap();
    let base = emulator.base_url().to_owned();
    let token = access_token(&base);

    // ListAccounts, one account a page, as botocore's paginator (§5).
    assert_eq!(
        list_all_accounts(&base, &token, 1),
        [vec![DEV.to_owned()], vec![PROD.to_owned()]]
    );
    let everything: ListAccountsResponse = ok(&portal(
        "GET",
        &format!("{base}/assignment/accounts"),
        Some(&token),
    ));
    let dev = &everything.account_list.unwrap()[0];
    assert_eq!(dev.account_name.as_deref(), Some("Dev"));
    assert_eq!(dev.email_address.as_deref(), Some("dev@example.com"));
    assert_eq!(everything.next_token, None);

    // ListAccountRoles, in two pages.
    let first: ListAccountRolesResponse = ok(&portal(
        "GET",
        &format!("{base}/assignment/roles?account_id={PROD}&max_result=1"),
        Some(&token),
    ));
    let role = &first.role_list.unwrap()[0];
    assert_eq!(
        (role.role_name.as_deref(), role.account_id.as_deref()),
        (Some("ReadOnlyAccess"), Some(PROD))
    );
    let second: ListAccountRolesResponse = ok(&portal(
        "GET",
        &format!(
            "{base}/assignment/roles?account_id={PROD}&max_result=1&next_token={}",
            pkce::percent_encode(&first.next_token.unwrap())
        ),
        Some(&token),
    ));
    assert_eq!(
        second.role_list.unwrap()[0].role_name.as_deref(),
        Some("Billing")
    );
    assert_eq!(second.next_token, None);

    // GetRoleCredentials.
    let before = SystemTime::now();
    let response = portal(
        "GET",
        &credentials_url(&base, DEV, "ReadOnlyAccess"),
        Some(&token),
    );
    let after = SystemTime::now();
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let body: GetRoleCredentialsResponse = ok(&response);
    let credentials = body.role_credentials.unwrap();
    let key_id = credentials.access_key_id.unwrap();
    assert!(key_id.starts_with("ASIA") && key_id.len() == 20, "{key_id}");
    assert_eq!(credentials.secret_access_key.unwrap().secret().len(), 40);
    assert!(credentials.session_token.unwrap().secret().len() > 900);
    // Milliseconds, an hour ahead, and no later than the access token's end.
    let expiration = credentials.expiration.unwrap();
    let hour = Duration::from_secs(3600);
    assert!(
        (epoch_ms(before + hour) - 1000..=epoch_ms(after + hour)).contains(&expiration),
        "{expiration}"
    );

    // Logout: 200 with an empty body, and the token is dead.
    let response = portal("POST", &format!("{base}/logout"), Some(&token));
    assert_eq!(response.status(), 200);
    assert!(response.body().is_empty());
    assert_portal_error(
        &portal("GET", &format!("{base}/assignment/accounts"), Some(&token)),
        PortalErrorCode::Unauthorized,
        "Session token not found or invalid",
    );

    // The admin API counts every portal call.
    let (status, counters) = admin(&base, "GET", "/counters", None);
    assert_eq!(status, 200);
    assert_eq!(counters["listAccounts"], 4);
    assert_eq!(counters["listAccountRoles"], 2);
    assert_eq!(counters["getRoleCredentials"], 1);
    assert_eq!(counters["logout"], 1);
    assert_eq!(counters["portalThrottled"], 0);
    assert_eq!(counters["createToken"], 1);
}

#[test]
fn the_portal_answers_under_a_path_prefix_whatever_the_host_header() {
    let emulator = EmulatorThread::start(auto_approving()).unwrap();
    let base = emulator.base_url().to_owned();
    let token = access_token(&base);
    // AWS_ENDPOINT_URL_SSO=http://127.0.0.1:PORT/some/prefix
    let prefixed = format!("{base}/some/prefix");
    let _: GetRoleCredentialsResponse = ok(&portal(
        "GET",
        &credentials_url(&prefixed, PROD, "Billing"),
        Some(&token),
    ));
    // The Host the SDK would send for the real endpoint changes nothing.
    let request = http::Request::get(format!("{base}/assignment/accounts"))
        .header("host", "portal.sso.us-east-1.amazonaws.com")
        .header("X-Amz-Sso_Bearer_Token", token.secret())
        .body(Vec::new())
        .unwrap();
    let _: ListAccountsResponse = ok(&send_request(request).unwrap());
}

#[test]
fn every_portal_error_as_a_client_sees_it() {
    let emulator = EmulatorThread::start(auto_approving()).unwrap();
    let base = emulator.base_url().to_owned();
    let token = access_token(&base);
    let accounts = format!("{base}/assignment/accounts");

    // 401: no token, an unknown one, one in the Authorization header only.
    assert_portal_error(
        &portal("GET", &accounts, None),
        PortalErrorCode::Unauthorized,
        "Session token not found or invalid",
    );
    assert_portal_error(
        &portal("GET", &accounts, Some(&AccessToken::new("aoaUNKNOWN"))),
        PortalErrorCode::Unauthorized,
        "Session token not found or invalid",
    );
    let request = http::Request::get(&accounts)
        .header("authorization", format!("Bearer {}", token.secret()))
        .body(Vec::new())
        .unwrap();
    assert_eq!(send_request(request).unwrap().status(), 401);

    // 403: a role not assigned in that account.
    assert_portal_error(
        &portal("GET", &credentials_url(&base, DEV, "Billing"), Some(&token)),
        PortalErrorCode::Forbidden,
        "No access",
    );

    // 400: a page size over 100 (as aws-sso-cli once sent), a missing parameter.
    assert_portal_error(
        &portal("GET", &format!("{accounts}?max_result=1000"), Some(&token)),
        PortalErrorCode::InvalidRequest,
        "ResultSize parameter must be within the valid limits of: 1-100",
    );
    assert_portal_error(
        &portal("GET", &format!("{base}/assignment/roles"), Some(&token)),
        PortalErrorCode::InvalidRequest,
        "account_id parameter is required",
    );
    assert_portal_error(
        &portal(
            "GET",
            &format!("{base}/federation/credentials?account_id={DEV}"),
            Some(&token),
        ),
        PortalErrorCode::InvalidRequest,
        "role_name parameter is required",
    );
    assert_portal_error(
        &portal("GET", &format!("{accounts}?next_token=p2"), Some(&token)),
        PortalErrorCode::InvalidRequest,
        "next token",
    );

    // 405: Logout is a POST.
    let response = portal("GET", &format!("{base}/logout"), Some(&token));
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");

    // 429: a burst injected through the admin API for portal requests only;
    // the OIDC side is untouched meanwhile.
    let (status, queued) = admin(
        &base,
        "POST",
        "/faults",
        Some(json!({"fault": "status", "status": 429, "count": 2, "target": "portal"})),
    );
    assert_eq!(
        (status, &queued),
        (200, &json!({"queued": 2, "target": "portal"}))
    );
    register(&base, "not-throttled", &[]);
    let throttled = portal("GET", &accounts, Some(&token));
    assert_portal_error(
        &throttled,
        PortalErrorCode::TooManyRequests,
        "HTTP 429 Unknown Code",
    );
    assert_eq!(
        serde_json::from_slice::<Value>(throttled.body()).unwrap(),
        json!({
            "message": "HTTP 429 Unknown Code",
            "__type": "com.amazonaws.switchboard.portal#TooManyRequestsException"
        })
    );
    assert_eq!(portal("GET", &accounts, Some(&token)).status(), 429);
    let _: ListAccountsResponse = ok(&portal("GET", &accounts, Some(&token)));

    // A general fault applies to portal requests too, in the portal's format.
    admin(
        &base,
        "POST",
        "/faults",
        Some(json!({"fault": "error", "code": "TooManyRequestsException"})),
    );
    assert_portal_error(
        &portal("GET", &accounts, Some(&token)),
        PortalErrorCode::TooManyRequests,
        "HTTP 429",
    );
    let (status, refused) = admin(
        &base,
        "POST",
        "/faults",
        Some(json!({"fault": "status", "status": 429, "target": "oidc"})),
    );
    assert_eq!(status, 400, "{refused}");
}

#[test]
fn expired_and_revoked_tokens_are_401_and_credentials_end_with_the_token() {
    let mut config = auto_approving();
    config.service.token_ttl = Duration::from_secs(2);
    let emulator = EmulatorThread::start(config).unwrap();
    let base = emulator.base_url().to_owned();
    let before = SystemTime::now();
    let signed_in = sign_in(&base);
    let after = SystemTime::now();
    let token = signed_in.access_token.unwrap();

    // The role session would last an hour; the token's two seconds win.
    let body: GetRoleCredentialsResponse = ok(&portal(
        "GET",
        &credentials_url(&base, DEV, "AdministratorAccess"),
        Some(&token),
    ));
    let expiration = body.role_credentials.unwrap().expiration.unwrap();
    let two = Duration::from_secs(2);
    assert!(
        (epoch_ms(before + two) - 1000..=epoch_ms(after + two)).contains(&expiration),
        "{expiration}"
    );

    std::thread::sleep(Duration::from_millis(2100));
    assert_portal_error(
        &portal("GET", &format!("{base}/assignment/accounts"), Some(&token)),
        PortalErrorCode::Unauthorized,
        "Session token not found or invalid",
    );

    // Revoked through the admin API, one token or all of them.
    let fresh = access_token(&base);
    let (status, body) = admin(
        &base,
        "POST",
        "/access-tokens/revoke",
        Some(json!({"accessToken": fresh.secret()})),
    );
    assert_eq!((status, body), (200, json!({"revoked": 1})));
    assert_eq!(
        portal("GET", &format!("{base}/assignment/accounts"), Some(&fresh)).status(),
        401
    );
    let (status, _) = admin(
        &base,
        "POST",
        "/access-tokens/revoke",
        Some(json!({"accessToken": fresh.secret()})),
    );
    assert_eq!(status, 404);
    access_token(&base);
    access_token(&base);
    let (status, body) = admin(
        &base,
        "POST",
        "/access-tokens/revoke",
        Some(json!({"all": true})),
    );
    assert_eq!((status, body), (200, json!({"revoked": 2})));
    let (status, _) = admin(&base, "POST", "/access-tokens/revoke", Some(json!({})));
    assert_eq!(status, 400);
}

#[test]
fn a_refresh_keeps_the_old_token_and_logout_revokes_the_refresh_token() {
    let emulator = EmulatorThread::start(auto_approving()).unwrap();
    let base = emulator.base_url().to_owned();
    let client = register(&base, "refreshing", &["sso:account:access"]);
    let started = start_authorization(&base, &client);
    let token: CreateTokenResponse = ok(&poll(&base, &client, &started.device_code.unwrap()));
    let refresh = |refresh_token: &ssoflow_core::secret::RefreshToken| {
        let request = ssoflow_core::wire::CreateTokenRequest::refresh_token(
            &client.id,
            &client.secret,
            refresh_token,
        );
        post_json(
            &format!("{base}/token"),
            ssoflow_core::wire::encode(&request),
        )
    };
    let refreshed: CreateTokenResponse = ok(&refresh(token.refresh_token.as_ref().unwrap()));
    let old = token.access_token.unwrap();
    let new = refreshed.access_token.unwrap();
    for access in [&old, &new] {
        let _: ListAccountsResponse = ok(&portal(
            "GET",
            &format!("{base}/assignment/accounts"),
            Some(access),
        ));
    }
    assert_eq!(
        portal("POST", &format!("{base}/logout"), Some(&old)).status(),
        200
    );
    assert_eq!(
        portal("GET", &format!("{base}/assignment/accounts"), Some(&new)).status(),
        401,
        "the whole session ended"
    );
    let refused = refresh(refreshed.refresh_token.as_ref().unwrap());
    assert_eq!(
        error_of(&refused).code,
        ssoflow_core::ErrorCode::InvalidGrant
    );
}

#[test]
fn accounts_from_the_library_config_page_by_at_most_100() {
    let mut config = auto_approving();
    config.service.accounts = (0..150)
        .map(|i| {
            let mut account =
                PortalAccount::new(format!("{:012}", 200_000_000_000_u64 + i), ["Dev"]);
            account.account_name = Some(format!("account {i}"));
            account
        })
        .collect();
    let emulator = EmulatorThread::start(config).unwrap();
    let base = emulator.base_url().to_owned();
    let token = access_token(&base);
    let pages = list_all_accounts(&base, &token, 100);
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [100, 50]);
    assert_eq!(pages[1][49], "200000000149");
    let (status, accounts) = admin(&base, "GET", "/accounts", None);
    assert_eq!(status, 200);
    assert_eq!(accounts.as_array().unwrap().len(), 150);
    assert_eq!(
        accounts[0],
        json!({"accountId": "200000000000", "accountName": "account 0", "roles": ["Dev"]})
    );
}

#[test]
fn the_rate_limit_throttles_a_fast_client_over_http() {
    let mut config = auto_approving();
    config.service.portal_rate_limit = Some(1);
    let emulator = EmulatorThread::start(config).unwrap();
    let base = emulator.base_url().to_owned();
    let token = access_token(&base);
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            portal("GET", &format!("{base}/assignment/accounts"), Some(&token))
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(statuses[0], 200);
    assert!(statuses.contains(&429), "{statuses:?}");
    let counters = emulator.with_service(|service| service.counters());
    assert!(counters.portal_throttled >= 1);
    assert_eq!(counters.list_accounts, 3);
}

#[test]
fn access_tokens_and_logouts_survive_a_restart_with_the_state_file() {
    let dir = scratch("state");
    let path = dir.join("state.json");
    let mut config = auto_approving();
    config.state_file = Some(path.clone());

    let emulator = EmulatorThread::start(config.clone()).unwrap();
    let base = emulator.base_url().to_owned();
    let kept = access_token(&base);
    let logged_out = access_token(&base);
    assert_eq!(
        portal("POST", &format!("{base}/logout"), Some(&logged_out)).status(),
        200
    );
    emulator.stop().unwrap();
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["version"], 3);

    let restarted = EmulatorThread::start(config).unwrap();
    let base = restarted.base_url().to_owned();
    let _: GetRoleCredentialsResponse = ok(&portal(
        "GET",
        &credentials_url(&base, PROD, "ReadOnlyAccess"),
        Some(&kept),
    ));
    assert_eq!(
        portal(
            "GET",
            &format!("{base}/assignment/accounts"),
            Some(&logged_out)
        )
        .status(),
        401
    );
    restarted.stop().unwrap();
}

// ------------------------------------------------------------------ binary

#[test]
fn the_binary_serves_the_accounts_file_with_its_role_session_ttl() {
    let dir = scratch("binary");
    let file = dir.join("accounts.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!([
            {"accountId": "123456789012", "accountName": "Sandbox", "emailAddress": "sandbox@example.com",
             "roles": ["Developer", "Sample Role+x"]},
            {"accountId": "210987654321", "roles": ["Auditor"]},
            {"accountId": "999999999999"}
        ]))
        .unwrap(),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"))
        .args(["--port", "0", "--auto-approve", "--role-session-ttl", "15m"])
        .arg("--accounts")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first:?}");

    let token = access_token(&base);
    let pages = list_all_accounts(&base, &token, 2);
    assert_eq!(
        pages,
        [
            vec!["123456789012".to_owned(), "210987654321".to_owned()],
            vec!["999999999999".to_owned()]
        ]
    );
    let roles: ListAccountRolesResponse = ok(&portal(
        "GET",
        &format!("{base}/assignment/roles?account_id=999999999999"),
        Some(&token),
    ));
    assert_eq!(roles.role_list, Some(vec![]));
    let before = SystemTime::now();
    let body: GetRoleCredentialsResponse = ok(&portal(
        "GET",
        &credentials_url(&base, "123456789012", "Sample Role+x"),
        Some(&token),
    ));
    let after = SystemTime::now();
    let quarter = Duration::from_secs(900);
    let expiration = body.role_credentials.unwrap().expiration.unwrap();
    assert!(
        (epoch_ms(before + quarter) - 1000..=epoch_ms(after + quarter)).contains(&expiration),
        "{expiration}"
    );
    // The default accounts are gone.
    assert_eq!(
        portal(
            "GET",
            &credentials_url(&base, DEV, "ReadOnlyAccess"),
            Some(&token)
        )
        .status(),
        403
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let mut stderr = String::new();
    child
        .stderr
        .as_mut()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains(&format!("portal API         {base}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("3 account(s) from {}", file.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("AWS_ENDPOINT_URL_SSO={base}")),
        "{stderr}"
    );
}

#[test]
fn the_binary_refuses_a_bad_accounts_file_naming_the_flag() {
    let dir = scratch("binary-bad");
    let file = dir.join("accounts.json");
    std::fs::write(&file, r#"[{"accountId": 111122223333}]"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"))
        .args(["--port", "0", "--accounts"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--accounts"), "{stderr}");
    assert!(stderr.contains("is invalid"), "{stderr}");
    assert!(stderr.contains("expected a string"), "{stderr}");
}

#[test]
fn the_default_assignments_are_documented_ones() {
    let accounts = ServiceConfig::default().accounts;
    let summary: Vec<(&str, Option<&str>, Vec<&str>)> = accounts
        .iter()
        .map(|a| {
            (
                a.account_id.as_str(),
                a.account_name.as_deref(),
                a.roles.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                DEV,
                Some("Dev"),
                vec!["AdministratorAccess", "ReadOnlyAccess"]
            ),
            (PROD, Some("Prod"), vec!["ReadOnlyAccess", "Billing"]),
        ]
    );
}
