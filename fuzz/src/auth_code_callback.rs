//! Target `auth_code_callback`: the authorization-code flow fed an arbitrary
//! sequence of requests to its loopback listener (raw request heads, and
//! callbacks with the right `state` carrying any code or error), service
//! answers (realistic ones and raw bytes), transport errors, time steps and
//! cancel — driven through `ssoflow_core::oracle::Checked`, which checks the
//! flow after every call (see its module docs; for this flow also: the
//! registration asks for the authorization-code grant and the loopback
//! redirect, the code is never exchanged while the flow still waits, and at
//! most four times; a refused or ignored callback changes nothing; an
//! accepted one makes the exchange due at once).
//!
//! Checked here on top:
//!
//! * the request-head parser and the query parser never panic; a query that
//!   parses, re-encoded with `pkce::percent_encode`, parses to the same pairs;
//! * the page the listener sends for any verdict is one well-formed HTTP/1.1
//!   response whose `Content-Length` is its body's length, and it never
//!   contains the code, the `state` or a canned secret;
//! * a callback whose `state` is not the flow's is never accepted;
//! * no canned secret, code or state shows in any event's or the outcome's
//!   `Debug`.
//!
//! Input: byte 0 picks a cached registration made for the grant (bit 0);
//! then one operation per opcode byte with its operands.

use std::time::{Duration, Instant};

use ssoflow_core::loopback::{request_target, response};
use ssoflow_core::oracle::Checked;
use ssoflow_core::pkce::{self, PkceSecrets, RANDOM_BYTES};
use ssoflow_core::{AuthCodeFlow, CallbackReply, Event, Operation, Transmit};

use crate::canned::{self, SECRET_MARKER};
use crate::input::{self, Bytes};

const MAX_OPS: usize = 128;
const PORT: u16 = 49152;
/// The code every well-formed callback of this harness carries.
const CODE: &str = "SECRETzq-authorization-code";

pub fn run(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let mode = bytes.byte();
    let marker = input::contains(data, SECRET_MARKER.as_bytes());
    let t0 = Instant::now();
    let secrets = PkceSecrets::from_random([0x5a; RANDOM_BYTES]);
    let flow = if mode & 1 == 1 {
        let mut cached = canned::registration(false);
        cached.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
        AuthCodeFlow::with_registration(
            canned::config(false),
            cached,
            PORT,
            secrets,
            t0,
            canned::wall0(),
        )
    } else {
        AuthCodeFlow::new(canned::config(false), PORT, secrets, t0)
    };
    let mut run = Runner {
        c: Checked::new(flow, t0),
        t0,
        state: None,
        marker,
    };
    run.drain();
    let mut ops = 0;
    while !bytes.is_empty() && ops < MAX_OPS {
        ops += 1;
        match bytes.byte() % 6 {
            0 => {
                let len = usize::from(bytes.byte());
                let head = bytes.take(len).to_vec();
                run.listener_request(&head);
            }
            1 => {
                let which = bytes.byte();
                let target = run.callback(which);
                run.callback_target(&target);
            }
            2 => {
                let (kind, arg) = (bytes.byte(), bytes.byte());
                let len = usize::from(bytes.byte() % 64);
                let raw = bytes.take(len).to_vec();
                run.answer(kind, arg, raw);
            }
            3 => {
                let step = Duration::from_secs(u64::from(bytes.byte()) * 10);
                let now = canned::later(run.c.now(), step);
                run.c.handle_timeout(now);
                run.drain();
            }
            4 => {
                let len = usize::from(bytes.byte());
                let text = String::from_utf8_lossy(bytes.take(len)).into_owned();
                check_query_round_trip(&text);
            }
            _ => {
                run.c.cancel();
                run.drain();
            }
        }
    }
    run.c
        .run_out(canned::wall0(), |_| Ok(canned::response(503, "")));
    run.drain();
    if let Some(outcome) = run.c.outcome() {
        run.check_text(&canned::render_outcome(outcome), "outcome");
    }
}

struct Runner {
    c: Checked<AuthCodeFlow>,
    t0: Instant,
    /// The `state` of the URL handed out, once it is.
    state: Option<String>,
    marker: bool,
}

impl Runner {
    fn drain(&mut self) {
        for event in self.c.drain() {
            if let Event::AuthorizationUrl(prompt) = &event {
                let query = prompt.url.split_once('?').map_or("", |(_, q)| q);
                let pairs = pkce::parse_query(query).expect("our own URL parses");
                let state = pairs
                    .iter()
                    .find(|(n, _)| n == "state")
                    .map(|(_, v)| v.clone());
                self.state = Some(state.expect("the URL carries a state"));
            }
            let text = canned::render_event(&event);
            self.check_text(&text, "event");
        }
    }

    /// No canned secret, code or state in a rendering.
    fn check_text(&self, text: &str, what: &str) {
        canned::assert_no_canned_secret(text, self.marker, what);
        if let Some(state) = &self.state {
            assert!(
                !text.contains(state.as_str()),
                "the state shows in the {what}: {text}"
            );
        }
    }

    /// A well-formed callback: the right state with a code, an error, or nothing.
    fn callback(&self, which: u8) -> String {
        let state = self.state.clone().unwrap_or_else(|| "no-url-yet".into());
        match which % 4 {
            0 => format!("/oauth/callback?code={CODE}&state={state}"),
            1 => format!("/oauth/callback?error=access_denied&state={state}"),
            2 => format!("/oauth/callback?error=server_error&error_description=x&state={state}"),
            _ => format!("/oauth/callback?state={state}"),
        }
    }

    fn listener_request(&mut self, head: &[u8]) {
        let Some(target) = request_target(head) else {
            check_page(&response(None), &[]);
            return;
        };
        let target = target.to_owned();
        self.callback_target(&target);
    }

    fn callback_target(&mut self, target: &str) {
        let state_before = self.state.clone();
        let reply = self.c.handle_callback(self.c.now(), target);
        if reply == CallbackReply::Accepted {
            let query = target.split_once('?').map_or("", |(_, q)| q);
            let pairs = pkce::parse_query(query).expect("an accepted callback parses");
            let sent = pairs
                .iter()
                .find(|(n, _)| n == "state")
                .map(|(_, v)| v.clone());
            assert!(
                sent.is_some() && sent == state_before,
                "a callback with another state was accepted: {target}"
            );
        }
        let mut secrets: Vec<&str> = vec![CODE];
        if let Some(state) = &state_before {
            secrets.push(state);
        }
        check_page(&response(Some(&reply)), &secrets);
        self.drain();
    }

    fn answer(&mut self, kind: u8, arg: u8, raw: Vec<u8>) {
        let now = self.c.now();
        let Some(tx) = self.c.poll_transmit(now) else {
            self.drain();
            return;
        };
        canned::check_transmit_debug(&tx);
        let wall = canned::wall0() + now.saturating_duration_since(self.t0);
        let result = match kind % 4 {
            0 => self
                .c
                .handle_response(now, wall, tx.id, canned::response(200, success(&tx))),
            1 => self
                .c
                .handle_response(now, wall, tx.id, canned::error(canned::code(arg))),
            2 => {
                let status = 100 + u16::from(arg) * 2;
                self.c
                    .handle_response(now, wall, tx.id, canned::response(status, raw))
            }
            _ => self
                .c
                .handle_transport_error(now, tx.id, canned::transport_kind(arg)),
        };
        result.expect("the answer to the request in flight is taken");
        self.drain();
    }
}

fn success(tx: &Transmit) -> String {
    match tx.operation {
        Operation::RegisterClient => canned::registered_body(),
        _ => canned::token_body(true),
    }
}

/// One well-formed response; none of `secrets` in it.
fn check_page(page: &[u8], secrets: &[&str]) {
    let text = String::from_utf8(page.to_vec()).expect("the page is UTF-8");
    assert!(text.starts_with("HTTP/1.1 "), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
        "Content-Length is not the body's: {head}"
    );
    for secret in secrets {
        assert!(!text.contains(secret), "the page shows {secret}: {text}");
    }
    assert!(
        !text.contains(SECRET_MARKER),
        "the page shows a secret: {text}"
    );
}

/// A query that parses, re-encoded pair by pair, parses to the same pairs.
fn check_query_round_trip(query: &str) {
    let Ok(pairs) = pkce::parse_query(query) else {
        return;
    };
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(n, v)| format!("{}={}", pkce::percent_encode(n), pkce::percent_encode(v)))
        .collect();
    let again = pkce::parse_query(&encoded.join("&")).expect("a re-encoded query parses");
    // An empty name is skipped as an empty segment would be.
    let expected: Vec<_> = pairs
        .into_iter()
        .filter(|(n, v)| !(n.is_empty() && v.is_empty()))
        .collect();
    let again: Vec<_> = again
        .into_iter()
        .filter(|(n, v)| !(n.is_empty() && v.is_empty()))
        .collect();
    assert_eq!(
        again, expected,
        "the query did not survive re-encoding: {query}"
    );
}
