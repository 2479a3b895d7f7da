//! Unit tests of `RefreshFlow`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ssoflow_core::{
    AccessToken, ErrorCode, Event, Flow, FlowError, RefreshFlow, RefreshToken, StateKind, Token,
    TransportErrorKind,
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
    f.handle_response(t0 + S(2), tx.id, ok(TOKEN)).unwrap();
    let events = drain(&mut f);
    let [Event::Authorized(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
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
        tx.id,
        ok(r#"{"accessToken":"new","expiresIn":3600,"refreshToken":null}"#),
    )
    .unwrap();
    let events = drain(&mut f);
    let [Event::Authorized(t)] = events.as_slice() else {
        panic!()
    };
    assert_eq!(t.refresh_token.as_ref().unwrap().secret(), "old-refresh");
}

#[test]
fn invalid_grant_means_sign_in_again_without_retry() {
    let (mut f, t0) = flow(token(Some("revoked")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_response(t0, tx.id, err(ErrorCode::InvalidGrant))
        .unwrap();
    let events = drain(&mut f);
    let [Event::Failed(e)] = events.as_slice() else {
        panic!()
    };
    assert!(e.needs_sign_in());
    assert!(f.poll_transmit(t0 + S(100)).is_none());
}

#[test]
fn server_errors_are_retried_with_backoff_then_given_up() {
    let (mut f, mut now) = flow(token(Some("r")));
    let mut waits = vec![];
    loop {
        let tx = f.poll_transmit(now).unwrap();
        f.handle_response(now, tx.id, status(503, "")).unwrap();
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
        drain(&mut f).last(),
        Some(Event::Failed(FlowError::RetriesExhausted {
            attempts: 4,
            ..
        }))
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
    f.handle_response(t1, tx.id, ok(TOKEN)).unwrap();
    assert_eq!(f.state(), StateKind::Authorized);
}

#[test]
fn unrefreshable_tokens_fail_before_any_request() {
    let (mut f, t0) = flow(token(None));
    assert_eq!(
        drain(&mut f),
        vec![Event::Failed(FlowError::NotRefreshable)]
    );
    assert!(f.poll_transmit(t0).is_none());
    let mut expired = token(Some("r"));
    expired.registration.expires_at = wall0();
    let (mut f, t0) = flow(expired);
    assert_eq!(
        drain(&mut f),
        vec![Event::Failed(FlowError::RegistrationExpired)]
    );
    assert!(f.poll_transmit(t0).is_none());
    assert!(FlowError::RegistrationExpired.needs_sign_in());
}

#[test]
fn invalid_client_is_not_retried() {
    let (mut f, t0) = flow(token(Some("r")));
    let tx = f.poll_transmit(t0).unwrap();
    f.handle_response(t0, tx.id, err(ErrorCode::InvalidClient))
        .unwrap();
    assert_eq!(f.state(), StateKind::Failed);
    let events = drain(&mut f);
    let [Event::Failed(e)] = events.as_slice() else {
        panic!()
    };
    assert!(e.needs_sign_in(), "{e}");
}
