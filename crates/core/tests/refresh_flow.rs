//! Unit tests of `RefreshFlow`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ssoflow_core::secret::{AccessToken, RefreshToken};
use ssoflow_core::{
    ErrorCode, Event, Flow, FlowError, Outcome, RefreshFlow, StateKind, Token, TransportErrorKind,
};

const S: fn(u64) -> Duration = Duration::from_secs;

fn token(refresh: Option<&str>) -> Token {
    Token {
        access_token: AccessToken::new("old-access"),
        refresh_token: refresh.map(RefreshToken::new),
        expires_at: wall0() + S(60),
        registration: registration(S(86_400)),
    }
}

fn flow(t: Token) -> (RefreshFlow, Instant) {
    let t0 = Instant::now();
    (
        RefreshFlow::new(config().endpoint().clone(), t, t0, wall0()),
        t0,
    )
}

fn drain(f: &mut RefreshFlow) -> Vec<Event> {
    std::iter::from_fn(|| f.poll_event()).collect()
}

/// The refreshed token (panics unless the flow ended with one).
fn refreshed(f: &RefreshFlow) -> Token {
    match f.outcome() {
        Some(Outcome::Authorized(t)) => t.clone(),
        other => panic!("{other:?}"),
    }
}

fn failure(f: &RefreshFlow) -> FlowError {
    match f.outcome() {
        Some(Outcome::Failed(e)) => e.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sends_the_refresh_grant() {
    let (mut f, t0) = flow(token(Some("old-refresh")));
    assert_eq!(f.state(), StateKind::Pending);
    let tx = f.poll_transmit(t0).unwrap();
    assert_eq!(
        String::from_utf8(tx.request.body().clone()).unwrap(),
        r#"{"grantType":"refresh_token","clientId":"cid","clientSecret":"client-secret-value","refreshToken":"old-refresh"}"#
    );
    assert!(f.poll_transmit(t0).is_none());
}

#[test]
fn a_new_refresh_token_replaces_the_old_one() {
    let (mut f, t0) = flow(token(Some("old-refresh")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_response(t0 + S(2), wall0() + S(2), tx.id, ok(TOKEN))
        .unwrap();
    assert!(drain(&mut f).is_empty());
    let t = refreshed(&f);
    assert_eq!(t.access_token.secret(), "access-token-value");
    assert_eq!(
        t.refresh_token.as_ref().unwrap().secret(),
        "refresh-token-value"
    );
    assert_eq!(t.expires_at, wall0() + S(2) + S(3600));
    assert_eq!(f.state(), StateKind::Authorized);
    assert!(f.poll_transmit(t0 + S(100)).is_none() && f.poll_timeout().is_none());
}

#[test]
fn an_absent_refresh_token_keeps_the_old_one() {
    let (mut f, t0) = flow(token(Some("old-refresh")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_response(
        t0,
        wall0(),
        tx.id,
        ok(r#"{"accessToken":"new","expiresIn":3600,"refreshToken":null}"#),
    )
    .unwrap();
    let t = refreshed(&f);
    assert_eq!(t.refresh_token.as_ref().unwrap().secret(), "old-refresh");
}

#[test]
fn invalid_grant_means_sign_in_again_without_retry() {
    let (mut f, t0) = flow(token(Some("revoked")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_response(t0, wall0(), tx.id, err(ErrorCode::InvalidGrant))
        .unwrap();
    assert!(failure(&f).needs_sign_in());
    assert!(f.poll_transmit(t0 + S(100)).is_none());
}

#[test]
fn server_errors_are_retried_with_backoff_then_given_up() {
    let (mut f, mut now) = flow(token(Some("r")));
    let mut waits = vec![];
    loop {
        let tx = f.poll_transmit(now).unwrap();
        f.handle_response(now, wall0(), tx.id, status(503, ""))
            .unwrap();
        match f.poll_timeout() {
            Some(t) => {
                waits.push(t - now);
                now = t;
            }
            None => break,
        }
    }
    assert_eq!(waits, [S(1), S(2), S(4)]);
    assert!(matches!(
        failure(&f),
        FlowError::RetriesExhausted { attempts: 4, .. }
    ));
}

#[test]
fn a_transport_error_then_success() {
    let (mut f, t0) = flow(token(Some("r")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_transport_error(t0, tx.id, TransportErrorKind::ConnectionLost)
        .unwrap();
    let t1 = f.poll_timeout().unwrap();
    assert!(f.poll_transmit(t0).is_none());
    let tx = f.poll_transmit(t1).unwrap();
    f.handle_response(t1, wall0(), tx.id, ok(TOKEN)).unwrap();
    assert_eq!(f.state(), StateKind::Authorized);
}

#[test]
fn unrefreshable_tokens_fail_before_any_request() {
    let (mut f, t0) = flow(token(None));
    assert_eq!(failure(&f), FlowError::NotRefreshable);
    assert!(drain(&mut f).is_empty());
    assert!(f.poll_transmit(t0).is_none());
    let mut expired = token(Some("r"));
    expired.registration.expires_at = wall0();
    let (mut f, t0) = flow(expired);
    assert_eq!(failure(&f), FlowError::RegistrationExpired);
    assert!(f.poll_transmit(t0).is_none());
    assert!(FlowError::RegistrationExpired.needs_sign_in());
}

#[test]
fn invalid_client_is_not_retried() {
    let (mut f, t0) = flow(token(Some("r")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_response(t0, wall0(), tx.id, err(ErrorCode::InvalidClient))
        .unwrap();
    assert_eq!(f.state(), StateKind::Failed);
    let e = failure(&f);
    assert!(e.needs_sign_in(), "{e}");
}

#[test]
fn an_unreadable_answer_spends_the_refresh_token_and_is_not_retried() {
    // The service may rotate refresh tokens: after a 200 it could not read,
    // the old refresh token may be dead, so sending it again could only get
    // invalid_grant and hide this cause.
    let (mut f, t0) = flow(token(Some("r")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_response(t0, wall0(), tx.id, ok(r#"{"accessTok"#))
        .unwrap();
    let e = failure(&f);
    assert!(
        matches!(
            e,
            FlowError::GrantSpent {
                grant: "refresh token",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("refresh token is spent"), "{e}");
    assert!(f.poll_transmit(t0 + S(100)).is_none());
}

#[test]
fn the_expiry_is_stamped_from_the_wall_clock_of_the_answer() {
    let (mut f, t0) = flow(token(Some("r")));
    let tx = f.poll_transmit(t0).unwrap();
    // The monotonic clock has not moved; the wall clock says an hour passed.
    let woke = wall0() + S(3600);
    f.handle_response(t0, woke, tx.id, ok(TOKEN)).unwrap();
    assert_eq!(refreshed(&f).expires_at, woke + S(3600));
}

#[test]
fn invalid_grant_after_a_lost_answer_says_the_token_was_probably_spent() {
    let (mut f, t0) = flow(token(Some("r")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_transport_error(t0, tx.id, TransportErrorKind::Timeout)
        .unwrap();
    let t1 = f.poll_timeout().unwrap();
    let tx = f.poll_transmit(t1).unwrap();
    f.handle_response(t1, wall0(), tx.id, err(ErrorCode::InvalidGrant))
        .unwrap();
    let e = failure(&f);
    assert!(
        matches!(
            e,
            FlowError::AnswerLost {
                grant: "refresh token",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.needs_sign_in());
}

#[test]
fn a_rejected_registration_is_reported() {
    for code in [ErrorCode::InvalidClient, ErrorCode::UnauthorizedClient] {
        let (mut f, t0) = flow(token(Some("r")));
        let tx = f.poll_transmit(t0).unwrap();
        f.handle_response(t0, wall0(), tx.id, err(code.clone()))
            .unwrap();
        assert_eq!(
            drain(&mut f),
            vec![Event::RegistrationRejected {
                client_id: "cid".into(),
                user_code_void: false
            }],
            "{code:?}"
        );
        assert_eq!(f.state(), StateKind::Failed);
    }
}
