//! Unit tests of `DeviceFlow`, one module per state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use ssoflow_core::wire::{self, DecodeError};
use ssoflow_core::{
    ApiMisuse, DeviceFlow, ErrorCode, Event, Flow, FlowError, Operation, Outcome, StateKind,
    TransportErrorKind,
};

const S: fn(u64) -> Duration = Duration::from_secs;

mod unregistered {
    use super::*;

    #[test]
    fn sends_register_client_with_the_configured_scopes() {
        let mut s = Scenario::unregistered();
        assert_eq!(s.flow.state(), StateKind::Unregistered);
        let tx = s.transmit();
        assert_eq!(tx.operation, Operation::RegisterClient);
        assert_eq!(tx.request.method(), "POST");
        assert_eq!(
            tx.request.uri(),
            "https://oidc.us-east-1.amazonaws.com/client/register"
        );
        assert_eq!(tx.request.headers()["content-type"], "application/json");
        let body: wire::RegisterClientRequest = wire::decode(tx.request.body()).unwrap();
        assert_eq!(body.client_type, "public");
        assert_eq!(body.client_name, "ssoflow");
        assert_eq!(body.scopes, Some(vec!["sso:account:access".to_owned()]));
        // One request at a time; the flow waits for its answer, but not for ever.
        assert!(s.flow.poll_transmit(s.now).is_none());
        assert_eq!(s.flow.poll_timeout(), Some(s.t0 + S(120)));
    }

    #[test]
    fn legacy_config_sends_no_scopes() {
        let t0 = std::time::Instant::now();
        let mut flow = DeviceFlow::new(
            config()
                .with_scopes(Vec::<String>::new())
                .with_client_name("me"),
            t0,
        );
        let tx = flow.poll_transmit(t0).unwrap();
        let text = String::from_utf8(tx.request.body().clone()).unwrap();
        assert_eq!(text, r#"{"clientName":"me","clientType":"public"}"#);
    }

    #[test]
    fn success_emits_registered_and_moves_on() {
        let mut s = Scenario::unregistered();
        s.exchange(ok(REGISTERED));
        assert_eq!(s.flow.state(), StateKind::Registered);
        let events = s.events();
        let [Event::Registered(reg)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(reg.client_id, "cid");
        assert_eq!(reg.client_secret.secret(), "client-secret-value");
        assert_eq!(
            reg.expires_at,
            std::time::SystemTime::UNIX_EPOCH + S(1_775_001_600)
        );
        assert_eq!(s.transmit().operation, Operation::StartDeviceAuthorization);
    }

    #[test]
    fn missing_members_are_named_after_retries() {
        let mut s = Scenario::unregistered();
        for _ in 0..5 {
            s.exchange(ok(r#"{"clientSecret":"x","clientSecretExpiresAt":1}"#));
            if s.flow.state().is_terminal() {
                break;
            }
            s.wait_for_timeout();
        }
        assert_eq!(
            s.failure(),
            FlowError::Decode {
                operation: Operation::RegisterClient,
                error: DecodeError::MissingMember("clientId")
            }
        );
    }

    #[test]
    fn transient_failures_back_off_doubling_then_give_up() {
        let mut s = Scenario::unregistered();
        let mut waits = vec![];
        loop {
            let tx = s.transmit();
            s.flow
                .handle_transport_error(s.now, tx.id, TransportErrorKind::Timeout)
                .unwrap();
            if s.flow.state().is_terminal() {
                break;
            }
            let before = s.now;
            s.wait_for_timeout();
            waits.push(s.now - before);
        }
        assert_eq!(waits, [S(1), S(2), S(4), S(8)]);
        assert!(matches!(
            s.failure(),
            FlowError::RetriesExhausted { attempts: 5, .. }
        ));
    }

    #[test]
    fn configuration_errors_stop_at_once() {
        let mut s = Scenario::unregistered();
        s.exchange(err(ErrorCode::InvalidScope));
        assert_eq!(s.flow.state(), StateKind::Failed);
        assert!(s.events().is_empty());
        let FlowError::Service { operation, error } = s.failure() else {
            panic!()
        };
        assert_eq!(operation, Operation::RegisterClient);
        assert_eq!(error.code, ErrorCode::InvalidScope);
        assert_eq!(error.description.as_deref(), Some("canned"));
    }

    #[test]
    fn answers_to_unknown_requests_are_misuse() {
        let mut s = Scenario::unregistered();
        let tx = s.transmit();
        s.flow
            .handle_response(s.now, s.wall(), tx.id, ok(REGISTERED))
            .unwrap();
        // The same id again, while the flow is live, is a caller bug and changes nothing.
        assert!(
            s.flow
                .handle_response(s.now, s.wall(), tx.id, ok(REGISTERED))
                .is_err()
        );
        assert!(
            s.flow
                .handle_transport_error(s.now, tx.id, TransportErrorKind::Other)
                .is_err()
        );
        assert_eq!(s.flow.state(), StateKind::Registered);
    }
}

mod registered {
    use super::*;

    #[test]
    fn a_fresh_cached_registration_skips_register_client() {
        let mut s = Scenario::registered();
        assert_eq!(s.flow.state(), StateKind::Registered);
        let tx = s.transmit();
        assert_eq!(tx.operation, Operation::StartDeviceAuthorization);
        let body: wire::StartDeviceAuthorizationRequest = wire::decode(tx.request.body()).unwrap();
        assert_eq!(body.client_id, "cid");
        assert_eq!(body.start_url, START_URL);
    }

    #[test]
    fn a_registration_with_less_than_15_minutes_left_is_replaced() {
        // aws-cli-compat.md §5.3: reused when expiresAt - now >= 15 min.
        let t0 = std::time::Instant::now();
        for left in [S(15 * 60 - 1), S(60), S(0)] {
            let flow = DeviceFlow::with_registration(config(), registration(left), t0, wall0());
            assert_eq!(flow.state(), StateKind::Unregistered, "{left:?}");
        }
        let flow = DeviceFlow::with_registration(config(), registration(S(15 * 60)), t0, wall0());
        assert_eq!(flow.state(), StateKind::Registered);
        let mut other_scopes = registration(S(86_400));
        other_scopes.scopes = vec!["other".into()];
        assert_eq!(
            DeviceFlow::with_registration(config(), other_scopes, t0, wall0()).state(),
            StateKind::Unregistered
        );
    }

    #[test]
    fn invalid_client_registers_again_once() {
        let mut s = Scenario::registered();
        s.exchange(err(ErrorCode::InvalidClient));
        assert_eq!(s.flow.state(), StateKind::Unregistered);
        assert_eq!(
            s.events(),
            vec![Event::RegistrationRejected {
                client_id: "cid".into(),
                user_code_void: false
            }]
        );
        s.exchange(ok(REGISTERED));
        assert!(matches!(s.events().as_slice(), [Event::Registered(_)]));
        assert!(s.flow.new_registration().is_some());
        // A second rejection ends it: registering yet again would loop.
        s.exchange(err(ErrorCode::InvalidClient));
        assert!(matches!(
            s.events().as_slice(),
            [Event::RegistrationRejected { .. }]
        ));
        let FlowError::Service { error, .. } = s.failure() else {
            panic!()
        };
        assert_eq!(error.code, ErrorCode::InvalidClient);
    }

    #[test]
    fn unauthorized_client_drops_the_registration_and_stops() {
        // A new registration would ask for the same grant types, which the
        // service has just refused: no second RegisterClient, no second code.
        let mut s = Scenario::registered();
        s.exchange(err(ErrorCode::UnauthorizedClient));
        assert_eq!(
            s.events(),
            vec![Event::RegistrationRejected {
                client_id: "cid".into(),
                user_code_void: false
            }]
        );
        let error = s.failure();
        assert!(
            matches!(&error, FlowError::Service { error, .. } if error.code == ErrorCode::UnauthorizedClient)
        );
        let text = error.to_string();
        assert!(
            text.contains("may not use this grant") && text.contains("sign in again"),
            "{text}"
        );
        assert!(s.flow.poll_transmit(s.now + S(60)).is_none());
    }

    #[test]
    fn start_response_becomes_a_prompt() {
        let mut s = Scenario::registered();
        s.exchange(ok(&started(Some(1), 600)));
        assert_eq!(s.flow.state(), StateKind::Pending);
        let events = s.events();
        let [Event::UserCode(p)] = events.as_slice() else {
            panic!()
        };
        assert_eq!(p.user_code, "BCDF-GHJK");
        assert_eq!(
            p.verification_uri,
            "https://device.sso.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            p.verification_uri_complete.as_deref(),
            Some("https://device.sso.us-east-1.amazonaws.com/?user_code=BCDF-GHJK")
        );
        assert_eq!(p.expires_at, wall0() + S(600));
        assert_eq!(p.expires_in, S(600));
    }

    #[test]
    fn interval_defaults_to_5_and_is_at_least_1() {
        for (sent, want) in [(None, 5), (Some(0), 1), (Some(1), 1), (Some(7), 7)] {
            let s = Scenario::pending(sent, 600);
            assert_eq!(s.flow.poll_timeout(), Some(s.t0 + S(want)), "{sent:?}");
        }
    }

    #[test]
    fn a_start_response_without_a_device_code_names_it() {
        let mut s = Scenario::registered();
        let body = r#"{"userCode":"BCDF-GHJK","verificationUri":"https://x/","expiresIn":600}"#;
        while !s.flow.state().is_terminal() {
            s.exchange(ok(body));
            if !s.flow.state().is_terminal() {
                s.wait_for_timeout();
            }
        }
        assert_eq!(
            s.failure(),
            FlowError::Decode {
                operation: Operation::StartDeviceAuthorization,
                error: DecodeError::MissingMember("deviceCode")
            }
        );
    }
}

mod pending {
    use super::*;

    #[test]
    fn polls_only_after_the_interval() {
        let mut s = Scenario::pending(Some(3), 600);
        assert!(s.flow.poll_transmit(s.now).is_none());
        s.advance(S(2));
        assert!(s.flow.poll_transmit(s.now).is_none());
        s.advance(S(1));
        let tx = s.transmit();
        let body: wire::CreateTokenRequest = wire::decode(tx.request.body()).unwrap();
        assert_eq!(body.grant_type, wire::GRANT_DEVICE_CODE);
        assert_eq!(body.device_code.unwrap().secret(), "device-code-value");
    }

    #[test]
    fn authorization_pending_keeps_polling_each_interval() {
        let mut s = Scenario::pending(Some(2), 600);
        for _ in 0..10 {
            s.wait_for_timeout();
            s.exchange(err(ErrorCode::AuthorizationPending));
            assert_eq!(s.flow.state(), StateKind::Pending);
            assert_eq!(s.flow.poll_timeout(), Some(s.now + S(2)));
        }
        assert!(s.events().is_empty());
    }

    #[test]
    fn slow_down_adds_5_seconds_for_good() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::SlowDown));
        assert_eq!(s.events(), vec![Event::IntervalChanged(S(6))]);
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::SlowDown));
        assert_eq!(s.events(), vec![Event::IntervalChanged(S(11))]);
        assert_eq!(s.flow.poll_timeout(), Some(s.now + S(11)));
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::AuthorizationPending));
        assert_eq!(s.flow.poll_timeout(), Some(s.now + S(11)));
    }

    #[test]
    fn success_gives_the_token_with_its_wall_clock_expiry() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        s.exchange(ok(TOKEN));
        assert_eq!(s.flow.state(), StateKind::Authorized);
        assert!(s.events().is_empty());
        let Some(Outcome::Authorized(t)) = s.outcome() else {
            panic!()
        };
        assert_eq!(t.access_token.secret(), "access-token-value");
        assert_eq!(
            t.refresh_token.as_ref().unwrap().secret(),
            "refresh-token-value"
        );
        assert_eq!(t.expires_at, wall0() + S(1) + S(3600));
        assert_eq!(t.registration.client_id, "cid");
    }

    #[test]
    fn expired_token_and_access_denied_are_terminal_outcomes() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::ExpiredToken));
        assert_eq!(
            (s.flow.state(), s.outcome()),
            (StateKind::Expired, Some(Outcome::Expired))
        );
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::AccessDenied));
        assert_eq!(
            (s.flow.state(), s.outcome()),
            (StateKind::Denied, Some(Outcome::Denied))
        );
    }

    #[test]
    fn other_errors_fail_with_code_and_description() {
        for code in [
            ErrorCode::InvalidGrant,
            ErrorCode::InvalidRequest,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::Other("Weird".into()),
        ] {
            let mut s = Scenario::pending(Some(1), 600);
            s.wait_for_timeout();
            s.exchange(err(code.clone()));
            assert!(s.events().is_empty());
            let FlowError::Service {
                operation: Operation::CreateToken,
                error,
            } = s.failure()
            else {
                panic!()
            };
            assert_eq!(error.code, code);
            assert_eq!(error.description.as_deref(), Some("canned"));
        }
    }

    #[test]
    fn the_deadline_expires_the_flow_without_another_request() {
        let mut s = Scenario::pending(Some(5), 12);
        s.wait_for_timeout(); // t = 5
        s.exchange(err(ErrorCode::AuthorizationPending));
        s.wait_for_timeout(); // t = 10
        s.exchange(err(ErrorCode::AuthorizationPending));
        // The next poll would be at 15, past the deadline at 12: wake at 12 instead.
        assert_eq!(s.flow.poll_timeout(), Some(s.t0 + S(12)));
        s.wait_for_timeout();
        assert_eq!(s.outcome(), Some(Outcome::Expired));
        assert!(s.flow.poll_transmit(s.now + S(100)).is_none());
    }

    #[test]
    fn transient_failures_double_the_wait_up_to_60s_but_never_past_the_deadline() {
        let mut s = Scenario::pending(Some(2), 300);
        let mut waits = vec![];
        for _ in 0..6 {
            s.wait_for_timeout();
            let tx = s.transmit();
            s.flow
                .handle_transport_error(s.now, tx.id, TransportErrorKind::Timeout)
                .unwrap();
            waits.push(s.flow.poll_timeout().unwrap() - s.now);
        }
        assert_eq!(waits, [S(4), S(8), S(16), S(32), S(60), S(60)]);
        // A normal answer resets the backoff: the next failure waits 4 s
        // again, not 120 s.
        s.wait_for_timeout();
        s.exchange(status(503, ""));
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::AuthorizationPending));
        assert_eq!(s.flow.poll_timeout(), Some(s.now + S(2)));
        s.wait_for_timeout();
        s.exchange(status(503, ""));
        assert_eq!(s.flow.poll_timeout(), Some(s.now + S(4)));
        // Keep failing: the flow ends Expired at the deadline, never Failed.
        while !s.flow.state().is_terminal() {
            s.wait_for_timeout();
            if let Some(tx) = s.flow.poll_transmit(s.now) {
                s.flow
                    .handle_response(s.now, s.wall(), tx.id, status(500, ""))
                    .unwrap();
            }
        }
        assert_eq!(s.flow.state(), StateKind::Expired);
        assert!(s.now <= s.t0 + S(300));
    }

    #[test]
    fn invalid_client_mid_flow_starts_over_with_a_new_code() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::InvalidClient));
        assert_eq!(s.flow.state(), StateKind::Unregistered);
        s.exchange(ok(REGISTERED));
        s.exchange(ok(&started(Some(1), 600)));
        let events = s.events();
        assert!(
            matches!(
                events.as_slice(),
                [
                    Event::RegistrationRejected {
                        user_code_void: true,
                        ..
                    },
                    Event::Registered(_),
                    Event::UserCode(_)
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn slow_down_penalties_survive_registering_again() {
        let mut s = Scenario::pending(Some(1), 600);
        for _ in 0..3 {
            s.wait_for_timeout();
            s.exchange(err(ErrorCode::SlowDown));
        }
        assert_eq!(s.flow.poll_timeout(), Some(s.now + S(16)));
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::InvalidClient));
        s.exchange(ok(REGISTERED));
        s.exchange(ok(&started(Some(1), 600)));
        assert_eq!(s.flow.poll_timeout(), Some(s.now + S(16)));
    }

    #[test]
    fn a_kms_denial_is_a_failure_not_a_refusal() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        let mut denial = ssoflow_core::ServiceError::new(ErrorCode::AccessDenied, "KMS said no");
        denial.reason = Some("KMS_AccessDeniedException".into());
        s.exchange(ssoflow_core::server::error_response(&denial));
        let FlowError::Service { error, .. } = s.failure() else {
            panic!()
        };
        assert_eq!(error.reason.as_deref(), Some("KMS_AccessDeniedException"));
        assert!(
            error.to_string().contains("KMS_AccessDeniedException"),
            "{error}"
        );
    }

    #[test]
    fn a_device_code_lifetime_beyond_an_hour_is_cut_to_an_hour() {
        let mut s = Scenario::registered();
        s.exchange(ok(&started(Some(1), 2_147_483_647)));
        let events = s.events();
        let [Event::UserCode(prompt)] = events.as_slice() else {
            panic!()
        };
        assert_eq!(prompt.expires_in, S(3600));
        s.advance(S(3599));
        assert_eq!(s.flow.state(), StateKind::Pending);
        s.advance(S(1));
        assert_eq!(s.outcome(), Some(Outcome::Expired));
    }

    #[test]
    fn an_unreadable_token_answer_spends_the_device_code_and_ends_the_flow() {
        // The service consumed the device code when it answered 200: another
        // poll could only get invalid_grant and hide why.
        for body in [r#"{"accessTok"#, "<html>", r#"{"tokenType":"Bearer"}"#] {
            let mut s = Scenario::pending(Some(1), 600);
            s.wait_for_timeout();
            s.exchange(ok(body));
            let error = s.failure();
            assert!(
                matches!(
                    error,
                    FlowError::GrantSpent {
                        grant: "device code",
                        ..
                    }
                ),
                "{error:?}"
            );
            assert!(error.needs_sign_in());
            let text = error.to_string();
            assert!(
                text.contains("could not be read") && text.contains("device code is spent"),
                "{text}"
            );
            assert!(s.events().is_empty());
            assert!(s.flow.poll_transmit(s.now + S(60)).is_none());
        }
    }

    #[test]
    fn invalid_grant_after_a_lost_answer_says_the_code_was_probably_spent() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        let tx = s.transmit();
        s.flow
            .handle_transport_error(s.now, tx.id, TransportErrorKind::ConnectionLost)
            .unwrap();
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::InvalidGrant));
        let error = s.failure();
        assert!(
            matches!(&error, FlowError::AnswerLost { grant: "device code", error } if error.code == ErrorCode::InvalidGrant),
            "{error:?}"
        );
        assert!(error.needs_sign_in());
        assert!(error.to_string().contains("was lost"), "{error}");
    }

    #[test]
    fn a_lost_answer_is_forgotten_once_the_service_says_pending() {
        // A failed connect never reached the service, and "pending" proves
        // the code unspent: a later invalid_grant is the service's own word.
        for kind in [TransportErrorKind::Connect, TransportErrorKind::Timeout] {
            let mut s = Scenario::pending(Some(1), 600);
            s.wait_for_timeout();
            let tx = s.transmit();
            s.flow.handle_transport_error(s.now, tx.id, kind).unwrap();
            if kind == TransportErrorKind::Timeout {
                s.wait_for_timeout();
                s.exchange(err(ErrorCode::AuthorizationPending));
            }
            s.wait_for_timeout();
            s.exchange(err(ErrorCode::InvalidGrant));
            assert!(
                matches!(s.failure(), FlowError::Service { ref error, .. } if error.code == ErrorCode::InvalidGrant),
                "{kind:?}: {:?}",
                s.failure()
            );
        }
    }

    #[test]
    fn a_token_answer_too_large_to_read_spends_the_code() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        let tx = s.transmit();
        s.flow
            .handle_transport_error(s.now, tx.id, TransportErrorKind::BodyTooLarge)
            .unwrap();
        assert_eq!(
            s.failure(),
            FlowError::GrantSpent {
                grant: "device code",
                error: DecodeError::TooLarge
            }
        );
        // A setup answer too large to read is only retried.
        let mut s = Scenario::unregistered();
        let tx = s.transmit();
        s.flow
            .handle_transport_error(s.now, tx.id, TransportErrorKind::BodyTooLarge)
            .unwrap();
        assert_eq!(s.flow.state(), StateKind::Unregistered);
    }

    #[test]
    fn a_rejected_registration_is_not_offered_for_keeping() {
        let mut s = Scenario::unregistered();
        s.exchange(ok(REGISTERED));
        assert!(s.flow.new_registration().is_some());
        s.exchange(err(ErrorCode::UnauthorizedClient));
        assert!(s.flow.new_registration().is_none());
    }

    #[test]
    fn unreadable_setup_answers_are_retried() {
        let mut s = Scenario::registered();
        s.exchange(ok(r#"{"deviceCo"#));
        assert_eq!(s.flow.state(), StateKind::Registered);
        assert!(matches!(
            s.events().as_slice(),
            [Event::Retrying {
                operation: Operation::StartDeviceAuthorization,
                attempt: 1,
                ..
            }]
        ));
        s.wait_for_timeout();
        s.exchange(ok(&started(Some(1), 600)));
        assert_eq!(s.flow.state(), StateKind::Pending);
    }

    #[test]
    fn unauthorized_client_while_polling_voids_the_code() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        s.exchange(err(ErrorCode::UnauthorizedClient));
        assert_eq!(
            s.events(),
            vec![Event::RegistrationRejected {
                client_id: "cid".into(),
                user_code_void: true
            }]
        );
        assert_eq!(s.flow.state(), StateKind::Failed);
    }
}

mod terminal {
    use super::*;

    #[test]
    fn cancel_stops_everything() {
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        let tx = s.transmit();
        s.flow.cancel();
        assert_eq!(s.failure(), FlowError::Cancelled);
        assert!(s.events().is_empty());
        // The answer to the abandoned request is accepted and ignored.
        s.flow
            .handle_response(s.now, s.wall(), tx.id, ok(TOKEN))
            .unwrap();
        assert_eq!(s.flow.state(), StateKind::Failed);
        assert!(s.flow.poll_transmit(s.now + S(60)).is_none());
        assert!(s.flow.poll_timeout().is_none());
        assert!(s.events().is_empty());
        s.flow.cancel();
        assert!(s.events().is_empty());
    }

    #[test]
    fn a_poll_in_flight_at_the_deadline_still_counts() {
        // Sent before the deadline, answered after it: the token is used.
        let mut s = Scenario::pending(Some(1), 2);
        s.wait_for_timeout();
        let tx = s.transmit();
        s.advance(S(5));
        assert_eq!(s.flow.state(), StateKind::Pending);
        s.flow
            .handle_response(s.now, s.wall(), tx.id, ok(TOKEN))
            .unwrap();
        assert_eq!(s.flow.state(), StateKind::Authorized);
        // Answered "pending" after the deadline instead: expired, no other poll.
        let mut s = Scenario::pending(Some(1), 2);
        s.wait_for_timeout();
        let tx = s.transmit();
        s.advance(S(5));
        s.flow
            .handle_response(s.now, s.wall(), tx.id, err(ErrorCode::AuthorizationPending))
            .unwrap();
        assert_eq!(s.outcome(), Some(Outcome::Expired));
    }

    #[test]
    fn a_dropped_transmit_is_given_up_and_sent_again() {
        // A hand-written driver that loses a request must not hang: the flow
        // stops waiting after a limit it reports, then polls again.
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        let sent_at = s.now;
        let dropped = s.transmit();
        assert!(s.flow.poll_transmit(s.now + S(10)).is_none());
        let give_up = s.flow.poll_timeout().unwrap();
        assert_eq!(give_up, sent_at + S(120));
        s.wait_for_timeout();
        assert!(matches!(
            s.events().as_slice(),
            [Event::Retrying {
                operation: Operation::CreateToken,
                attempt: 1,
                ..
            }]
        ));
        s.wait_for_timeout();
        let again = s.transmit();
        assert_ne!(again.id, dropped.id);
        // The lost request's answer, if it ever comes, is a clear misuse error.
        let late = s
            .flow
            .handle_response(s.now, s.wall(), dropped.id, ok(TOKEN))
            .unwrap_err();
        assert!(matches!(late, ApiMisuse::AnswerTooLate { .. }), "{late:?}");
        assert!(late.to_string().contains("time requests out sooner"));
        s.flow
            .handle_response(s.now, s.wall(), again.id, ok(TOKEN))
            .unwrap();
        assert_eq!(s.flow.state(), StateKind::Authorized);
    }

    #[test]
    fn a_dropped_setup_transmit_is_sent_again() {
        let mut s = Scenario::unregistered();
        let _dropped = s.transmit();
        assert_eq!(s.flow.poll_timeout(), Some(s.t0 + S(120)));
        s.wait_for_timeout();
        s.wait_for_timeout();
        assert_eq!(s.transmit().operation, Operation::RegisterClient);
    }

    #[test]
    fn expiries_come_from_the_wall_clock_handed_in_not_from_instants() {
        // The monotonic clock stands still (a suspended laptop) while the
        // wall clock jumps an hour: the token's expiry follows the wall clock.
        let mut s = Scenario::pending(Some(1), 600);
        s.wait_for_timeout();
        let tx = s.transmit();
        let woke = s.wall() + S(3600);
        s.flow
            .handle_response(s.now, woke, tx.id, ok(TOKEN))
            .unwrap();
        let Some(Outcome::Authorized(token)) = s.outcome() else {
            panic!()
        };
        assert_eq!(token.expires_at, woke + S(3600));
    }
}
