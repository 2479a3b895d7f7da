//! The portal API (`portal-api.md` §2–§8, §15) against the simulated
//! service, in virtual time: routing, the bearer token's life, assignments,
//! pagination, credentials, Logout, faults, the rate limit and snapshots.

use ssoflow_core::portal::{PortalError, PortalErrorCode};
use ssoflow_core::secret::AccessToken;
use ssoflow_core::wire::{
    GetRoleCredentialsResponse, ListAccountRolesResponse, ListAccountsResponse, PortalErrorBody,
};

use super::*;

const PORTAL: &str = "https://portal.sso.us-east-1.amazonaws.com";
const DEV: &str = "111122223333";
const PROD: &str = "444455556666";

/// A portal request with the token in `x-amz-sso_bearer_token` (when given).
fn portal_request(method: &str, uri: &str, token: Option<&str>) -> http::Request<Vec<u8>> {
    let mut builder = http::Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header("x-amz-sso_bearer_token", token);
    }
    builder.body(Vec::new()).unwrap()
}

fn get(path_and_query: &str, token: &AccessToken) -> http::Request<Vec<u8>> {
    portal_request(
        "GET",
        &format!("{PORTAL}{path_and_query}"),
        Some(token.secret()),
    )
}

fn logout(token: &AccessToken) -> http::Request<Vec<u8>> {
    portal_request("POST", &format!("{PORTAL}/logout"), Some(token.secret()))
}

/// Sends and checks what every portal answer carries: JSON, the same id in
/// `x-amzn-RequestId` and `RequestId`, `Cache-Control: no-cache`.
fn call(service: &mut Service, now: SystemTime, req: &http::Request<Vec<u8>>) -> Response {
    let response = send(service, now, req);
    assert_portal_headers(&response);
    response
}

fn assert_portal_headers(response: &Response) {
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["RequestId"], headers["x-amzn-RequestId"]);
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["access-control-expose-headers"], "RequestId");
}

/// Checks a portal error: status, `x-amzn-ErrorType`, the body's `__type`
/// and `message`, and what the core's parser makes of it.
fn assert_portal_error(response: &Response, code: PortalErrorCode, status: u16, says: &str) {
    assert_eq!(
        response.status().as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    let shape = code.shape().to_owned();
    assert_eq!(response.headers()["x-amzn-ErrorType"], shape.as_str());
    let body: PortalErrorBody = wire::decode(response.body()).unwrap();
    assert_eq!(
        body.error_type.as_deref(),
        Some(format!("com.amazonaws.switchboard.portal#{shape}").as_str())
    );
    assert!(
        body.error_type.is_some() && body.code.is_none(),
        "the portal's body, not OAuth's"
    );
    let parsed = PortalError::from_response(response).unwrap();
    assert_eq!((parsed.code, parsed.status), (code, status));
    let message = parsed.message.unwrap_or_default();
    assert!(message.contains(says), "{message:?} lacks {says:?}");
}

fn assert_unauthorized(response: &Response) {
    assert_portal_error(
        response,
        PortalErrorCode::Unauthorized,
        401,
        "Session token not found or invalid",
    );
}

fn assert_invalid(response: &Response, says: &str) {
    assert_portal_error(response, PortalErrorCode::InvalidRequest, 400, says);
}

/// Signed in by the device flow at `t0() + 1 s`.
fn signed_in(config: ServiceConfig) -> (Service, Client, AccessToken, RefreshToken) {
    let (service, client, token) = signed_in_setup(config);
    (
        service,
        client,
        token.access_token.unwrap(),
        token.refresh_token.unwrap(),
    )
}

fn t1() -> SystemTime {
    t0() + secs(1)
}

fn credentials(
    service: &mut Service,
    now: SystemTime,
    token: &AccessToken,
    account: &str,
    role: &str,
) -> Response {
    call(
        service,
        now,
        &get(
            &format!(
                "/federation/credentials?role_name={}&account_id={}",
                pkce::percent_encode(role),
                pkce::percent_encode(account)
            ),
            token,
        ),
    )
}

fn accounts_page(response: &Response) -> (Vec<String>, Option<String>) {
    let page: ListAccountsResponse = ok(response);
    let ids = page
        .account_list
        .unwrap()
        .into_iter()
        .map(|a| a.account_id.unwrap())
        .collect();
    (ids, page.next_token)
}

fn roles_page(response: &Response) -> (Vec<String>, Option<String>) {
    let page: ListAccountRolesResponse = ok(response);
    let roles = page
        .role_list
        .unwrap()
        .into_iter()
        .map(|r| r.role_name.unwrap())
        .collect();
    (roles, page.next_token)
}

/// Every page of ListAccounts with this page size (`None`: no max_result),
/// following `nextToken` as botocore does; returns the pages' ids.
fn all_account_pages(
    service: &mut Service,
    token: &AccessToken,
    max_result: Option<u32>,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut query = Vec::new();
        if let Some(size) = max_result {
            query.push(format!("max_result={size}"));
        }
        if let Some(next) = &next {
            query.push(format!("next_token={}", pkce::percent_encode(next)));
        }
        let response = call(
            service,
            t1(),
            &get(&format!("/assignment/accounts?{}", query.join("&")), token),
        );
        let (ids, token_out) = accounts_page(&response);
        pages.push(ids);
        match token_out {
            Some(token_out) => next = Some(token_out),
            None => return pages,
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
}

/// A second device-flow sign-in of the same client, at `t1()`: a new session.
fn sign_in_again(service: &mut Service, client: &Client) -> CreateTokenResponse {
    let started = start(service, t1(), client);
    service
        .approve(started.user_code.as_deref().unwrap(), t1())
        .unwrap();
    ok(&poll(
        service,
        t1(),
        client,
        started.device_code.as_ref().unwrap(),
    ))
}

fn many_accounts(n: usize) -> Vec<PortalAccount> {
    (0..n)
        .map(|i| PortalAccount::new(format!("{:012}", 100_000_000_000 + i), ["ReadOnly"]))
        .collect()
}

fn epoch_ms(time: SystemTime) -> i64 {
    i64::try_from(time.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

// --------------------------------------------------------------------- routing

#[test]
fn the_four_operations_are_routed_by_method_and_path_whatever_the_host_or_prefix() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    for base in [
        PORTAL,
        "http://127.0.0.1:8080",
        "http://localhost/some/prefix",
    ] {
        let uri = format!("{base}/assignment/accounts");
        let response = call(
            &mut service,
            t1(),
            &portal_request("GET", &uri, Some(token.secret())),
        );
        assert_eq!(accounts_page(&response).0, [DEV, PROD]);
        let uri = format!("{base}/assignment/roles?account_id={DEV}");
        let response = call(
            &mut service,
            t1(),
            &portal_request("GET", &uri, Some(token.secret())),
        );
        assert_eq!(
            roles_page(&response).0,
            ["AdministratorAccess", "ReadOnlyAccess"]
        );
        let uri = format!("{base}/federation/credentials?role_name=Billing&account_id={PROD}");
        let response = call(
            &mut service,
            t1(),
            &portal_request("GET", &uri, Some(token.secret())),
        );
        let _: GetRoleCredentialsResponse = ok(&response);
    }
    let counters = service.counters();
    assert_eq!(
        (
            counters.list_accounts,
            counters.list_account_roles,
            counters.get_role_credentials,
            counters.logout
        ),
        (3, 3, 3, 0)
    );
    let response = call(
        &mut service,
        t1(),
        &portal_request(
            "POST",
            "http://localhost/some/prefix/logout",
            Some(token.secret()),
        ),
    );
    assert_eq!(response.status(), 200);
    assert_eq!(service.counters().logout, 1);
}

#[test]
fn a_portal_path_with_the_wrong_method_is_a_405_in_the_portals_format() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    for (method, path, allowed) in [
        ("POST", "/federation/credentials", "GET"),
        ("PUT", "/assignment/accounts", "GET"),
        ("DELETE", "/assignment/roles", "GET"),
        ("GET", "/logout", "POST"),
    ] {
        let response = call(
            &mut service,
            t1(),
            &portal_request(method, &format!("{PORTAL}{path}"), Some(token.secret())),
        );
        assert_portal_error(
            &response,
            PortalErrorCode::Other("MethodNotAllowedException".into()),
            405,
            &format!("takes {allowed}, not {method}"),
        );
        assert_eq!(response.headers()["allow"], allowed);
    }
    // Wrong methods are no operation: counted as other, and the token lives on.
    let counters = service.counters();
    assert_eq!(counters.other, 4);
    assert_eq!(counters.logout + counters.get_role_credentials, 0);
    assert_eq!(service.live_access_tokens(t1()), 1);
}

#[test]
fn operation_of_names_portal_operations() {
    let token = Some("aoa");
    for (method, path, expected) in [
        (
            "GET",
            "/federation/credentials",
            Some(Operation::GetRoleCredentials),
        ),
        (
            "GET",
            "/p/assignment/accounts",
            Some(Operation::ListAccounts),
        ),
        (
            "GET",
            "/assignment/roles",
            Some(Operation::ListAccountRoles),
        ),
        ("POST", "/logout", Some(Operation::Logout)),
        ("GET", "/logout", None),
        ("GET", "/assignment", None),
    ] {
        let request = portal_request(method, &format!("{PORTAL}{path}"), token);
        assert_eq!(operation_of(&request), expected, "{method} {path}");
    }
}

// --------------------------------------------------------------------- queries

#[test]
fn query_values_are_percent_decoded_and_order_and_header_case_do_not_matter() {
    let config = ServiceConfig {
        accounts: vec![PortalAccount::new(DEV, ["Sample Role+x", "a/b=c"])],
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    // botocore's request line (§15.6), and the Rust SDK's order.
    for query in [
        format!("role_name=Sample%20Role%2Bx&account_id={DEV}"),
        format!("account_id={DEV}&role_name=Sample%20Role%2Bx"),
        format!("role_name=a%2Fb%3Dc&account_id={DEV}&unknown=ignored"),
    ] {
        let response = call(
            &mut service,
            t1(),
            &get(&format!("/federation/credentials?{query}"), &token),
        );
        let _: GetRoleCredentialsResponse = ok(&response);
    }
    // A header name in any case reaches the same header.
    let request = http::Request::get(format!(
        "{PORTAL}/federation/credentials?account_id={DEV}&role_name=a/b%3Dc"
    ))
    .header("X-Amz-SSO_Bearer_Token", token.secret())
    .header("Accept-Encoding", "identity")
    .body(Vec::new())
    .unwrap();
    let _: GetRoleCredentialsResponse = ok(&call(&mut service, t1(), &request));
    // A raw `+` is form-decoded to a space: a client that does not escape it
    // asks for another role.
    let response = call(
        &mut service,
        t1(),
        &get(
            &format!("/federation/credentials?role_name=Sample%20Role+x&account_id={DEV}"),
            &token,
        ),
    );
    assert_portal_error(&response, PortalErrorCode::Forbidden, 403, "No access");
}

#[test]
fn a_repeated_parameter_is_refused() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    for (path, name) in [
        (
            format!(
                "/federation/credentials?role_name=Billing&account_id={PROD}&role_name=Billing"
            ),
            "role_name",
        ),
        (
            "/assignment/accounts?max_result=1&max_result=2".to_owned(),
            "max_result",
        ),
        (
            format!("/assignment/roles?account_id={DEV}&account_id={PROD}"),
            "account_id",
        ),
    ] {
        let response = call(&mut service, t1(), &get(&path, &token));
        assert_invalid(
            &response,
            &format!("{name} parameter appears more than once"),
        );
    }
}

// ---------------------------------------------------------------- bearer token

#[test]
fn a_missing_empty_unknown_or_misplaced_token_is_401() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    let uri = format!("{PORTAL}/assignment/accounts");
    for request in [
        portal_request("GET", &uri, None),
        portal_request("GET", &uri, Some("")),
        portal_request("GET", &uri, Some("aoaNOTISSUED")),
        portal_request("POST", &format!("{PORTAL}/logout"), None),
        // The portal reads only its own header (§2).
        http::Request::get(&uri)
            .header("authorization", format!("Bearer {}", token.secret()))
            .body(Vec::new())
            .unwrap(),
    ] {
        assert_unauthorized(&call(&mut service, t1(), &request));
    }
    // A refresh token is no access token.
    let (_, _, _, refresh_token) = signed_in(ServiceConfig::default());
    let response = call(
        &mut service,
        t1(),
        &get(
            "/assignment/accounts",
            &AccessToken::new(refresh_token.secret()),
        ),
    );
    assert_unauthorized(&response);
}

#[test]
fn the_token_is_checked_before_the_parameters() {
    let (mut service, _, _, _) = signed_in(ServiceConfig::default());
    let response = call(
        &mut service,
        t1(),
        &get(
            "/assignment/accounts?max_result=0",
            &AccessToken::new("aoaUNKNOWN"),
        ),
    );
    assert_unauthorized(&response);
}

#[test]
fn an_access_token_expires_after_its_expires_in() {
    let config = ServiceConfig {
        token_ttl: secs(900),
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let accounts = get("/assignment/accounts", &token);
    let _: ListAccountsResponse = ok(&call(&mut service, t1() + secs(899), &accounts));
    assert_unauthorized(&call(&mut service, t1() + secs(900), &accounts));
    assert_eq!(service.live_access_tokens(t1() + secs(900)), 0);
}

#[test]
fn a_rotating_refresh_keeps_the_old_access_token_valid() {
    let (mut service, client, old, refresh_token) = signed_in(ServiceConfig::default());
    let refreshed: CreateTokenResponse = ok(&refresh(
        &mut service,
        t0() + secs(60),
        &client,
        &refresh_token,
    ));
    assert!(refreshed.refresh_token.is_some(), "rotated");
    let new = refreshed.access_token.unwrap();
    assert_ne!(new, old);
    for token in [&old, &new] {
        let _: ListAccountsResponse = ok(&call(
            &mut service,
            t0() + secs(61),
            &get("/assignment/accounts", token),
        ));
    }
    // Each keeps its own lifetime: the old one dies first.
    let at = t1() + secs(3600);
    assert_unauthorized(&call(&mut service, at, &get("/assignment/accounts", &old)));
    let _: ListAccountsResponse = ok(&call(&mut service, at, &get("/assignment/accounts", &new)));
}

#[test]
fn tokens_of_the_authorization_code_grant_work_too() {
    let mut service = Service::new(ServiceConfig::default());
    let (client, code) = approved_code(&mut service);
    let token: CreateTokenResponse = ok(&exchange(
        &mut service,
        t0(),
        &client,
        &code,
        CALLBACK,
        VERIFIER,
    ));
    let access = token.access_token.unwrap();
    let _: GetRoleCredentialsResponse = ok(&credentials(
        &mut service,
        t0(),
        &access,
        DEV,
        "ReadOnlyAccess",
    ));
    // A second use of the code revokes what it issued, access token included.
    exchange(&mut service, t0(), &client, &code, CALLBACK, VERIFIER);
    assert_unauthorized(&credentials(
        &mut service,
        t0(),
        &access,
        DEV,
        "ReadOnlyAccess",
    ));
}

#[test]
fn a_revoked_access_token_is_401_but_its_session_refreshes() {
    let (mut service, client, token, refresh_token) = signed_in(ServiceConfig::default());
    assert!(service.revoke_access_token(token.secret()));
    assert!(!service.revoke_access_token(token.secret()));
    assert_unauthorized(&call(
        &mut service,
        t1(),
        &get("/assignment/accounts", &token),
    ));
    let refreshed: CreateTokenResponse = ok(&refresh(&mut service, t1(), &client, &refresh_token));
    let fresh = refreshed.access_token.unwrap();
    let _: ListAccountsResponse = ok(&call(
        &mut service,
        t1(),
        &get("/assignment/accounts", &fresh),
    ));
    assert_eq!(service.revoke_all_access_tokens(t1()), 1);
    assert_unauthorized(&call(
        &mut service,
        t1(),
        &get("/assignment/accounts", &fresh),
    ));
}

// -------------------------------------------------------------------- accounts

#[test]
fn list_accounts_returns_the_default_assignments() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    let response = call(&mut service, t1(), &get("/assignment/accounts", &token));
    let page: ListAccountsResponse = ok(&response);
    assert_eq!(page.next_token, None);
    let accounts = page.account_list.unwrap();
    let shown: Vec<(&str, &str, &str)> = accounts
        .iter()
        .map(|a| {
            (
                a.account_id.as_deref().unwrap(),
                a.account_name.as_deref().unwrap(),
                a.email_address.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (DEV, "Dev", "dev@example.com"),
            (PROD, "Prod", "prod@example.com")
        ]
    );
    // Exactly the spec's shape (§5): no nextToken member at all on the last page.
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
}

#[test]
fn accounts_without_a_name_or_email_leave_those_members_out() {
    let config = ServiceConfig {
        accounts: vec![PortalAccount::new("000000000001", ["R"])],
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let response = call(&mut service, t1(), &get("/assignment/accounts", &token));
    assert_eq!(
        response.body(),
        br#"{"accountList":[{"accountId":"000000000001"}]}"#
    );
}

#[test]
fn list_accounts_pages_follow_next_token_to_the_end() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    // botocore's page-size-1 loop (§5).
    let first = call(
        &mut service,
        t1(),
        &get("/assignment/accounts?max_result=1", &token),
    );
    let (ids, next) = accounts_page(&first);
    assert_eq!(ids, [DEV]);
    let next = next.unwrap();
    // The token needs escaping: `/`, `+` and `=` are in it on purpose.
    assert!(
        next.contains('/') && next.contains('+') && next.contains('='),
        "{next}"
    );
    let second = call(
        &mut service,
        t1(),
        &get(
            &format!(
                "/assignment/accounts?max_result=1&next_token={}",
                pkce::percent_encode(&next)
            ),
            &token,
        ),
    );
    assert_eq!(accounts_page(&second), (vec![PROD.to_owned()], None));
    // The same token again gives the same page (it is an offset, not a cursor).
    let again = call(
        &mut service,
        t1(),
        &get(
            &format!(
                "/assignment/accounts?next_token={}&max_result=1",
                pkce::percent_encode(&next)
            ),
            &token,
        ),
    );
    assert_eq!(accounts_page(&again).0, [PROD]);
}

#[test]
fn the_default_page_size_is_20_and_100_is_the_largest() {
    let config = ServiceConfig {
        accounts: many_accounts(250),
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let sizes = |pages: Vec<Vec<String>>| pages.iter().map(Vec::len).collect::<Vec<_>>();
    let pages = all_account_pages(&mut service, &token, None);
    assert_eq!(
        sizes(pages.clone()),
        [20; 12].iter().copied().chain([10]).collect::<Vec<_>>()
    );
    let everything: Vec<String> = pages.concat();
    assert_eq!(everything.len(), 250);
    assert_eq!(everything[0], "100000000000");
    assert_eq!(everything[249], "100000000249");
    assert_eq!(
        sizes(all_account_pages(&mut service, &token, Some(100))),
        [100, 100, 50]
    );
    assert_eq!(
        sizes(all_account_pages(&mut service, &token, Some(7))).len(),
        36
    );
}

#[test]
fn the_default_page_size_is_configurable() {
    let config = ServiceConfig {
        accounts: many_accounts(5),
        portal_page_size: 2,
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let pages = all_account_pages(&mut service, &token, None);
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
}

#[test]
fn a_page_size_outside_1_to_100_is_refused_with_the_real_message() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    for size in ["0", "101", "-1", "1000"] {
        for path in [
            format!("/assignment/accounts?max_result={size}"),
            format!("/assignment/roles?account_id={DEV}&max_result={size}"),
        ] {
            let response = call(&mut service, t1(), &get(&path, &token));
            assert_invalid(
                &response,
                "ResultSize parameter must be within the valid limits of: 1-100",
            );
        }
    }
    for size in ["", "ten", "1.5", "99999999999999999999"] {
        let response = call(
            &mut service,
            t1(),
            &get(&format!("/assignment/accounts?max_result={size}"), &token),
        );
        assert_invalid(&response, "max_result parameter must be an integer");
    }
    for size in ["1", "100"] {
        let response = call(
            &mut service,
            t1(),
            &get(&format!("/assignment/accounts?max_result={size}"), &token),
        );
        let _: ListAccountsResponse = ok(&response);
    }
}

#[test]
fn unknown_empty_foreign_or_doctored_page_tokens_are_refused() {
    let config = ServiceConfig {
        accounts: vec![
            PortalAccount::new(DEV, ["A", "B", "C"]),
            PortalAccount::new(PROD, ["A", "B", "C"]),
            PortalAccount::new("777788889999", ["A"]),
        ],
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let roles_of = |account: &str| format!("/assignment/roles?account_id={account}&max_result=1");
    let dev_token = roles_page(&call(&mut service, t1(), &get(&roles_of(DEV), &token)))
        .1
        .unwrap();
    let accounts_token = accounts_page(&call(
        &mut service,
        t1(),
        &get("/assignment/accounts?max_result=1", &token),
    ))
    .1
    .unwrap();
    let with = |path: &str, next: &str| format!("{path}&next_token={}", pkce::percent_encode(next));
    for (path, next) in [
        (
            "/assignment/accounts?max_result=1".to_owned(),
            "p2".to_owned(),
        ),
        (
            "/assignment/accounts?max_result=1".to_owned(),
            String::new(),
        ),
        (
            "/assignment/accounts?max_result=1".to_owned(),
            dev_token.clone(),
        ),
        // The token with a raw `+`, as a client that does not escape sends it.
        (
            "/assignment/accounts?max_result=1".to_owned(),
            accounts_token.replace('+', " "),
        ),
        (
            "/assignment/accounts?max_result=1".to_owned(),
            accounts_token.replace("/1", "/01"),
        ),
        (
            "/assignment/accounts?max_result=1".to_owned(),
            accounts_token.replace("/1", "/0"),
        ),
        (
            "/assignment/accounts?max_result=1".to_owned(),
            accounts_token.replace("/1", "/3"),
        ),
        (roles_of(PROD), dev_token.clone()),
        (roles_of(DEV), accounts_token.clone()),
    ] {
        let response = call(&mut service, t1(), &get(&with(&path, &next), &token));
        assert_invalid(&response, "next token is invalid");
    }
    // Unescaped, `+` reaches the service as a space: refused too.
    let raw = format!("/assignment/accounts?next_token={accounts_token}");
    assert_invalid(
        &call(&mut service, t1(), &get(&raw, &token)),
        "next token is invalid",
    );
    // The genuine ones work.
    let _: ListAccountsResponse = ok(&call(
        &mut service,
        t1(),
        &get(
            &with("/assignment/accounts?max_result=1", &accounts_token),
            &token,
        ),
    ));
    let (roles, _) = roles_page(&call(
        &mut service,
        t1(),
        &get(&with(&roles_of(DEV), &dev_token), &token),
    ));
    assert_eq!(roles, ["B"]);
}

// ----------------------------------------------------------------------- roles

#[test]
fn list_account_roles_lists_one_accounts_roles_a_page_at_a_time() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    let response = call(
        &mut service,
        t1(),
        &get(&format!("/assignment/roles?account_id={PROD}"), &token),
    );
    let page: ListAccountRolesResponse = ok(&response);
    let roles: Vec<(String, String)> = page
        .role_list
        .unwrap()
        .into_iter()
        .map(|r| (r.role_name.unwrap(), r.account_id.unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("ReadOnlyAccess".to_owned(), PROD.to_owned()),
            ("Billing".to_owned(), PROD.to_owned())
        ]
    );
    assert_eq!(page.next_token, None);

    let first = call(
        &mut service,
        t1(),
        &get(
            &format!("/assignment/roles?account_id={DEV}&max_result=1"),
            &token,
        ),
    );
    let (roles, next) = roles_page(&first);
    assert_eq!(roles, ["AdministratorAccess"]);
    let second = call(
        &mut service,
        t1(),
        &get(
            &format!(
                "/assignment/roles?max_result=1&next_token={}&account_id={DEV}",
                pkce::percent_encode(&next.unwrap())
            ),
            &token,
        ),
    );
    assert_eq!(
        roles_page(&second),
        (vec!["ReadOnlyAccess".to_owned()], None)
    );
}

#[test]
fn list_account_roles_needs_an_account_and_lists_none_for_an_unassigned_one() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    for path in ["/assignment/roles", "/assignment/roles?account_id="] {
        assert_invalid(
            &call(&mut service, t1(), &get(path, &token)),
            "account_id parameter is required",
        );
    }
    let response = call(
        &mut service,
        t1(),
        &get("/assignment/roles?account_id=999999999999", &token),
    );
    assert_eq!(response.body(), br#"{"roleList":[]}"#);
}

// ----------------------------------------------------------------- credentials

#[test]
fn get_role_credentials_issues_well_formed_temporary_credentials() {
    // A token longer-lived than the role session, so the role's hour shows.
    let config = ServiceConfig {
        token_ttl: secs(8 * 3600),
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let now = t0() + secs(10);
    let response = credentials(&mut service, now, &token, DEV, "AdministratorAccess");
    let body: GetRoleCredentialsResponse = ok(&response);
    let credentials_body = body.role_credentials.unwrap();
    let key_id = credentials_body.access_key_id.unwrap();
    assert_eq!(key_id.len(), 20);
    assert!(key_id.starts_with("ASIA"), "{key_id}");
    assert!(
        key_id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{key_id}"
    );
    let secret = credentials_body.secret_access_key.unwrap();
    assert_eq!(secret.secret().len(), 40);
    let session_token = credentials_body.session_token.unwrap();
    assert!(session_token.secret().len() > 900);
    // Milliseconds (§4): now + the default hour.
    assert_eq!(
        credentials_body.expiration,
        Some(epoch_ms(now + secs(3600)))
    );
    // Every call gets fresh credentials.
    let again: GetRoleCredentialsResponse = ok(&credentials(
        &mut service,
        now,
        &token,
        DEV,
        "AdministratorAccess",
    ));
    assert_ne!(
        again.role_credentials.unwrap().access_key_id.unwrap(),
        key_id
    );
    // The exact member names (§4).
    let value: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    let mut members: Vec<&String> = value["roleCredentials"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    members.sort();
    assert_eq!(
        members,
        [
            "accessKeyId",
            "expiration",
            "secretAccessKey",
            "sessionToken"
        ]
    );
    assert!(value["roleCredentials"]["expiration"].is_i64());
}

#[test]
fn role_credentials_never_outlive_the_access_token() {
    let config = ServiceConfig {
        token_ttl: secs(1800),
        role_session_ttl: secs(8 * 3600),
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let token_expiry = t1() + secs(1800);
    for now in [t1(), t1() + secs(1000), t1() + secs(1799)] {
        let body: GetRoleCredentialsResponse =
            ok(&credentials(&mut service, now, &token, PROD, "Billing"));
        assert_eq!(
            body.role_credentials.unwrap().expiration,
            Some(epoch_ms(token_expiry))
        );
    }
    // With a short role session, the role's own lifetime applies.
    let config = ServiceConfig {
        role_session_ttl: secs(900),
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let body: GetRoleCredentialsResponse =
        ok(&credentials(&mut service, t1(), &token, PROD, "Billing"));
    assert_eq!(
        body.role_credentials.unwrap().expiration,
        Some(epoch_ms(t1() + secs(900)))
    );
}

#[test]
fn get_role_credentials_needs_both_parameters() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    for (query, missing) in [
        (format!("account_id={DEV}"), "role_name"),
        (format!("role_name=&account_id={DEV}"), "role_name"),
        ("role_name=Billing".to_owned(), "account_id"),
        (String::new(), "role_name"),
    ] {
        let response = call(
            &mut service,
            t1(),
            &get(&format!("/federation/credentials?{query}"), &token),
        );
        assert_invalid(&response, &format!("{missing} parameter is required"));
    }
}

#[test]
fn a_role_not_assigned_in_that_account_is_403_no_access() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    for (account, role) in [
        (DEV, "Billing"),                   // assigned, but in the other account
        (PROD, "AdministratorAccess"),      // likewise
        (DEV, "readonlyaccess"),            // names are case-sensitive
        ("999999999999", "ReadOnlyAccess"), // no such account
        (DEV, "AWSReservedSSO_ReadOnlyAccess_0123456789abcdef"), // the IAM role name
    ] {
        let response = credentials(&mut service, t1(), &token, account, role);
        assert_portal_error(&response, PortalErrorCode::Forbidden, 403, "No access");
        assert_eq!(
            PortalError::from_response(&response)
                .unwrap()
                .message
                .as_deref(),
            Some("No access")
        );
    }
}

// ---------------------------------------------------------------------- logout

#[test]
fn logout_answers_200_empty_and_ends_the_whole_session() {
    let (mut service, client, first, refresh_token) = signed_in(ServiceConfig::default());
    let refreshed: CreateTokenResponse = ok(&refresh(&mut service, t1(), &client, &refresh_token));
    let second = refreshed.access_token.unwrap();
    let rotated = refreshed.refresh_token.unwrap();
    // Another sign-in, another session.
    let other = sign_in_again(&mut service, &client).access_token.unwrap();

    let response = call(&mut service, t1(), &logout(&first));
    assert_eq!(response.status(), 200);
    assert!(response.body().is_empty());
    assert!(response.headers().get("x-amzn-ErrorType").is_none());

    // Every access token of the session is dead, the one used and the other.
    for token in [&first, &second] {
        assert_unauthorized(&call(
            &mut service,
            t1(),
            &get("/assignment/accounts", token),
        ));
    }
    // Its refresh token too: logged out means no new access tokens.
    let refused = refresh(&mut service, t1(), &client, &rotated);
    assert_error(&refused, ErrorCode::InvalidGrant, 400, "unknown or revoked");
    // A second logout is 401, as for any dead token.
    assert_unauthorized(&call(&mut service, t1(), &logout(&first)));
    // The other sign-in is untouched.
    let _: ListAccountsResponse = ok(&call(
        &mut service,
        t1(),
        &get("/assignment/accounts", &other),
    ));
    assert_eq!(service.counters().logout, 2);
}

#[test]
fn logout_with_a_body_or_query_still_logs_out() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    let request = http::Request::post(format!("{PORTAL}/logout?x=1"))
        .header("x-amz-sso_bearer_token", token.secret())
        .header("content-type", "text/plain")
        .body(b"ignored".to_vec())
        .unwrap();
    assert_eq!(call(&mut service, t1(), &request).status(), 200);
    assert_eq!(service.live_access_tokens(t1()), 0);
}

// ---------------------------------------------------------------------- faults

#[test]
fn injected_statuses_on_portal_requests_are_the_portals_errors() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    let accounts = get("/assignment/accounts", &token);
    for (status, code, says) in [
        (
            429,
            PortalErrorCode::TooManyRequests,
            "HTTP 429 Unknown Code",
        ),
        (
            401,
            PortalErrorCode::Unauthorized,
            "Session token not found",
        ),
        (403, PortalErrorCode::Forbidden, "No access"),
        (404, PortalErrorCode::ResourceNotFound, ""),
        (400, PortalErrorCode::InvalidRequest, ""),
        (
            503,
            PortalErrorCode::Other("InternalServerException".into()),
            "injected HTTP 503",
        ),
        (
            500,
            PortalErrorCode::Other("InternalServerException".into()),
            "injected HTTP 500",
        ),
        (7, PortalErrorCode::InvalidRequest, ""),
    ] {
        service.inject_faults(Fault::Status(status), 1);
        let response = call(&mut service, t1(), &accounts);
        let expected = if status == 7 { 400 } else { status };
        assert_portal_error(&response, code, expected, says);
    }
    // The exact 429 body seen from the real portal (§8.1).
    service.inject_faults(Fault::Status(429), 1);
    let response = call(&mut service, t1(), &accounts);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "message": "HTTP 429 Unknown Code",
            "__type": "com.amazonaws.switchboard.portal#TooManyRequestsException"
        })
    );
    let _: ListAccountsResponse = ok(&call(&mut service, t1(), &accounts));
}

#[test]
fn injected_error_codes_on_portal_requests_keep_their_shape() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    let accounts = get("/assignment/accounts", &token);
    for (code, expected, status) in [
        (
            ErrorCode::InvalidRequest,
            PortalErrorCode::InvalidRequest,
            400,
        ),
        (
            ErrorCode::Other("TooManyRequestsException".into()),
            PortalErrorCode::TooManyRequests,
            429,
        ),
        (
            ErrorCode::Other("UnauthorizedException".into()),
            PortalErrorCode::Unauthorized,
            401,
        ),
        (
            ErrorCode::InternalServer,
            PortalErrorCode::Other("InternalServerException".into()),
            500,
        ),
        (
            ErrorCode::SlowDown,
            PortalErrorCode::Other("SlowDownException".into()),
            400,
        ),
    ] {
        service.inject_faults(Fault::Error(code), 1);
        assert_portal_error(&call(&mut service, t1(), &accounts), expected, status, "");
    }
}

#[test]
fn a_burst_of_429s_then_normal_answers() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    service.inject_faults(Fault::Status(429), 3);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = credentials(&mut service, t1(), &token, DEV, "ReadOnlyAccess");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [429, 429, 429, 200, 200]);
    assert_eq!(service.counters().get_role_credentials, 5);
}

#[test]
fn portal_faults_pass_oidc_requests_by_and_come_before_general_ones() {
    let (mut service, client, token, refresh_token) = signed_in(ServiceConfig::default());
    service.inject_portal_faults(Fault::Status(401), 1);
    service.inject_faults(Fault::Status(503), 1);
    service.inject_portal_faults(Fault::Status(429), 1);
    let accounts = get("/assignment/accounts", &token);
    // The portal's 401, as a client sees mid-way through; it refreshes, which
    // takes the general fault, then succeeds.
    assert_unauthorized(&call(&mut service, t1(), &accounts));
    let failed = refresh(&mut service, t1(), &client, &refresh_token);
    assert_eq!(failed.status(), 503);
    let refreshed: CreateTokenResponse = ok(&refresh(&mut service, t1(), &client, &refresh_token));
    let fresh = refreshed.access_token.unwrap();
    let retried = call(&mut service, t1(), &get("/assignment/accounts", &fresh));
    assert_portal_error(&retried, PortalErrorCode::TooManyRequests, 429, "429");
    let _: ListAccountsResponse = ok(&call(
        &mut service,
        t1(),
        &get("/assignment/accounts", &fresh),
    ));
}

#[test]
fn dropped_delayed_and_malformed_portal_answers() {
    let (mut service, _, token, _) = signed_in(ServiceConfig::default());
    let accounts = get("/assignment/accounts", &token);
    service.inject_portal_faults(Fault::DropConnection, 1);
    assert!(matches!(service.handle(t1(), &accounts), Reply::Drop));
    service.inject_portal_faults(Fault::Delay(secs(3)), 1);
    match service.handle(t1(), &accounts) {
        Reply::Delayed(delay, response) => {
            assert_eq!(delay, secs(3));
            assert_portal_headers(&response);
            let _: ListAccountsResponse = ok(&response);
        }
        other => panic!("{other:?}"),
    }
    service.inject_portal_faults(Fault::MalformedBody, 1);
    let response = call(&mut service, t1(), &accounts);
    assert_eq!(response.status(), 200);
    assert!(wire::decode::<ListAccountsResponse>(response.body()).is_err());
}

#[test]
fn the_rate_limit_throttles_portal_requests_beyond_n_per_second() {
    let config = ServiceConfig {
        portal_rate_limit: Some(2),
        ..ServiceConfig::default()
    };
    let (mut service, _, token, _) = signed_in(config);
    let accounts = get("/assignment/accounts", &token);
    let statuses = |service: &mut Service, at: SystemTime, n: usize| -> Vec<u16> {
        (0..n)
            .map(|_| call(service, at, &accounts).status().as_u16())
            .collect()
    };
    let at = t0() + secs(100);
    assert_eq!(statuses(&mut service, at, 4), [200, 200, 429, 429]);
    // Throttled requests do not count against the window.
    let half = at + Duration::from_millis(999);
    assert_eq!(statuses(&mut service, half, 1), [429]);
    assert_eq!(statuses(&mut service, at + secs(1), 3), [200, 200, 429]);
    let throttled = call(&mut service, at + secs(1), &accounts);
    assert_portal_error(
        &throttled,
        PortalErrorCode::TooManyRequests,
        429,
        "HTTP 429 Unknown Code",
    );
    let counters = service.counters();
    assert_eq!(counters.portal_throttled, 5);
    assert_eq!(counters.list_accounts, 9);
    // OIDC requests are not limited, nor counted against the portal's window.
    for _ in 0..5 {
        register(&mut service, at + secs(1), &[]);
    }
    // A wall clock that went back an hour does not keep the window full.
    assert_eq!(statuses(&mut service, at - secs(3600), 1), [200]);
}

// -------------------------------------------------------------------- snapshot

#[test]
fn access_tokens_and_logouts_survive_a_snapshot() {
    let (mut service, client, kept, _) = signed_in(ServiceConfig::default());
    let second = sign_in_again(&mut service, &client);
    let logged_out = second.access_token.unwrap();
    call(&mut service, t1(), &logout(&logged_out));

    let json = serde_json::to_string(&service.snapshot()).unwrap();
    let snapshot: ServiceSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(snapshot.version(), 3);
    assert!(format!("{snapshot:?}").contains("access_tokens: 1"));
    let mut restored = Service::restore(ServiceConfig::default(), snapshot).unwrap();
    let _: GetRoleCredentialsResponse = ok(&credentials(
        &mut restored,
        t1(),
        &kept,
        DEV,
        "ReadOnlyAccess",
    ));
    assert_unauthorized(&credentials(
        &mut restored,
        t1(),
        &logged_out,
        DEV,
        "ReadOnlyAccess",
    ));
    let refused = refresh(&mut restored, t1(), &client, &second.refresh_token.unwrap());
    assert_error(&refused, ErrorCode::InvalidGrant, 400, "revoked");
    // Expiry is kept too.
    assert_unauthorized(&credentials(
        &mut restored,
        t1() + secs(3600),
        &kept,
        DEV,
        "ReadOnlyAccess",
    ));
}

#[test]
fn a_format_2_snapshot_restores_and_its_sessions_refresh_into_new_ones() {
    let (service, client, old, refresh_token) = signed_in(ServiceConfig::default());
    let mut json = serde_json::to_value(service.snapshot()).unwrap();
    json["version"] = serde_json::json!(2);
    let state = json["state"].as_object_mut().unwrap();
    state.remove("access_tokens");
    for grant in state["refresh_tokens"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        grant.as_object_mut().unwrap().remove("session");
    }
    let snapshot: ServiceSnapshot = serde_json::from_value(json).unwrap();
    let mut restored = Service::restore(ServiceConfig::default(), snapshot).unwrap();
    // Format 2 never recorded access tokens.
    assert_unauthorized(&call(
        &mut restored,
        t1(),
        &get("/assignment/accounts", &old),
    ));
    let refreshed: CreateTokenResponse = ok(&refresh(&mut restored, t1(), &client, &refresh_token));
    let fresh = refreshed.access_token.unwrap();
    assert_eq!(call(&mut restored, t1(), &logout(&fresh)).status(), 200);
    // The refresh token the refresh issued belongs to the new session.
    let refused = refresh(
        &mut restored,
        t1(),
        &client,
        &refreshed.refresh_token.unwrap(),
    );
    assert_eq!(refused.status(), 400);
}

#[test]
fn access_tokens_expired_for_a_day_are_swept_out() {
    let (mut service, client, _, _) = signed_in(ServiceConfig::default());
    assert_eq!(service.state.access_tokens.len(), 1);
    let much_later = t1() + secs(3600) + EXPIRED_CODE_RETENTION + secs(1);
    // Any token issued later sweeps; the registration lives 90 days.
    start(&mut service, much_later, &client);
    assert!(service.state.access_tokens.is_empty());
}

#[test]
fn the_service_debug_counts_access_tokens_and_shows_none() {
    let (service, _, token, _) = signed_in(ServiceConfig::default());
    let debug = format!("{service:?}");
    assert!(debug.contains("access_tokens: 1"), "{debug}");
    assert!(!debug.contains(token.secret()));
}
