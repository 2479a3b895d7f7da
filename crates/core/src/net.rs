//! For those who configure a transport: which certificate authorities are
//! trusted and which proxy a request takes.
//!
//! These are decisions, not I/O: a driver reads the environment and the CA
//! bundle file and hands the values in, and both of ssoflow's transports
//! (ureq and reqwest) ask the same functions, so they trust the same roots
//! and route the same hosts the same way.
//!
//! ```
//! use ssoflow_core::net::{NoProxy, ProxyRoute};
//!
//! // HTTPS_PROXY=http://proxy.corp:3128, NO_PROXY=.internal,10.0.0.0/8
//! let route = ProxyRoute::new("http://proxy.corp:3128", NoProxy::parse(".internal,10.0.0.0/8"))?;
//! assert!(route.applies_to("oidc.us-east-1.amazonaws.com", 443));
//! assert!(!route.applies_to("sso.internal", 443));
//! assert!(!route.applies_to("10.1.2.3", 443));
//! assert!(!route.applies_to("127.0.0.1", 8080), "loopback is never proxied");
//! # Ok::<(), ssoflow_core::net::ProxyError>(())
//! ```

use std::net::IpAddr;

use crate::drive::TransportError;
use crate::{Endpoint, TransportErrorKind};

/// Which certificate authorities a transport trusts for HTTPS.
///
/// The default is the operating system's trust store, because that is where
/// a company installs the root of its TLS-inspecting proxy: a corporate
/// laptop then works without configuration. A CA bundle (the AWS tools'
/// `AWS_CA_BUNDLE` / `ca_bundle`) *replaces* the roots, as it does in
/// botocore, where the bundle becomes urllib3's only `ca_certs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TrustRoots {
    /// The operating system's verifier and roots (rustls-platform-verifier:
    /// the system's verifier on macOS and Windows, its CA files, with
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`, elsewhere). A system without CA
    /// certificates (a bare container) fails the first HTTPS request with a
    /// [`TransportErrorKind::Certificate`] error that says so.
    #[default]
    System,
    /// Mozilla's roots, compiled into the program (webpki-roots): the same
    /// answer on every machine, blind to certificates a company installed.
    BuiltIn,
    /// Only the certificates of this bundle.
    Bundle(CaBundle),
}

/// Certificate authorities read from a PEM file: the DER of each
/// certificate, and where they came from for messages.
#[derive(Clone, PartialEq, Eq)]
pub struct CaBundle {
    source: String,
    certificates: Vec<Vec<u8>>,
}

impl CaBundle {
    /// A bundle of DER `certificates` read from `source` (a description such
    /// as `/etc/corp.pem (AWS_CA_BUNDLE)`, used in error messages).
    pub fn new(source: impl Into<String>, certificates: Vec<Vec<u8>>) -> CaBundle {
        CaBundle {
            source: source.into(),
            certificates,
        }
    }

    /// Where the certificates came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The certificates, DER-encoded.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.certificates
    }

    /// The error for the certificate at `index` (0-based) that the TLS
    /// library refused as a root, for `detail`.
    pub fn invalid_certificate(
        &self,
        index: usize,
        detail: impl std::fmt::Display,
    ) -> TransportError {
        TransportError::new(
            TransportErrorKind::Other,
            format!(
                "the CA bundle {} holds a certificate that cannot be used (number {} in the file: \
                 {detail}); replace it with the CA's PEM certificate",
                self.source,
                index.saturating_add(1)
            ),
        )
    }
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("source", &self.source)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// Where requests go: through a proxy from the environment (the default), a
/// given proxy, or always straight. Loopback hosts are reached directly in
/// every case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProxyConfig {
    /// `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` (the first that
    /// is set and not empty) with `no_proxy` / `NO_PROXY`: see
    /// [`ProxyRoute::from_env`].
    #[default]
    FromEnvironment,
    /// This proxy, whatever the environment says.
    Explicit(ProxyRoute),
    /// No proxy, whatever the environment says.
    Direct,
}

impl ProxyConfig {
    /// The route this configuration gives; `var` reads an environment
    /// variable (only [`ProxyConfig::FromEnvironment`] calls it).
    pub fn resolve(
        &self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ProxyRoute>, ProxyError> {
        match self {
            ProxyConfig::FromEnvironment => ProxyRoute::from_env(var),
            ProxyConfig::Explicit(route) => Ok(Some(route.clone())),
            ProxyConfig::Direct => Ok(None),
        }
    }
}

/// A proxy URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError {
    /// Where the URL came from, e.g. `HTTPS_PROXY`.
    pub source: String,
    /// What is wrong with it (the URL itself is not repeated: it may hold a password).
    pub reason: String,
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the proxy URL in {} is unusable: {}",
            self.source, self.reason
        )
    }
}

impl std::error::Error for ProxyError {}

/// A proxy and the hosts that bypass it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    url: String,
    no_proxy: NoProxy,
}

/// The environment variables that name the HTTPS proxy, in the order they
/// are read: the lower-case form first, as Python's urllib (and so botocore)
/// prefers it.
pub const PROXY_VARIABLES: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];

/// The environment variables that list hosts to reach directly.
pub const NO_PROXY_VARIABLES: [&str; 2] = ["no_proxy", "NO_PROXY"];

impl ProxyRoute {
    /// A route through the HTTP(S) proxy at `url` (`http://host:port`,
    /// `https://…`, or `host:port`, which means `http://`), bypassed for the
    /// hosts `no_proxy` matches.
    pub fn new(url: &str, no_proxy: NoProxy) -> Result<ProxyRoute, ProxyError> {
        ProxyRoute::named(url, no_proxy, "the proxy settings")
    }

    fn named(url: &str, no_proxy: NoProxy, source: &str) -> Result<ProxyRoute, ProxyError> {
        let error = |reason: &str| ProxyError {
            source: source.to_owned(),
            reason: reason.to_owned(),
        };
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_owned(), url),
        };
        if scheme != "http" && scheme != "https" {
            return Err(error(&format!(
                "the scheme {scheme}:// is not supported; use an http:// or https:// proxy"
            )));
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        if host_port.is_empty() || host_port.starts_with(':') {
            return Err(error("it names no host"));
        }
        if let Some((_, port)) = host_port
            .rsplit_once(':')
            .filter(|(h, _)| !h.ends_with(']'))
            && !host_port.starts_with('[')
            && port.parse::<u16>().is_err()
        {
            return Err(error("its port is not a number from 0 to 65535"));
        }
        Ok(ProxyRoute {
            url: format!("{scheme}://{authority}"),
            no_proxy,
        })
    }

    /// The route the environment sets up: the first of [`PROXY_VARIABLES`]
    /// that is set and not empty, with the first of [`NO_PROXY_VARIABLES`]
    /// that is set; `None` when no proxy is set. `var` reads a variable.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ProxyRoute>, ProxyError> {
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let Some((name, url)) = PROXY_VARIABLES
            .iter()
            .find_map(|name| set(name).map(|url| (*name, url)))
        else {
            return Ok(None);
        };
        let no_proxy = NO_PROXY_VARIABLES
            .iter()
            .find_map(|name| var(name))
            .map(|list| NoProxy::parse(&list))
            .unwrap_or_default();
        ProxyRoute::named(&url, no_proxy, name).map(Some)
    }

    /// The proxy's URL, normalised to `scheme://authority`; it may carry a
    /// user name and password, so show [`ProxyRoute::redacted_url`] instead.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL without its credentials, for logs and messages.
    pub fn redacted_url(&self) -> String {
        match self.url.split_once("://") {
            Some((scheme, rest)) if rest.contains('@') => {
                let host = rest.rsplit('@').next().unwrap_or_default();
                format!("{scheme}://***@{host}")
            }
            _ => self.url.clone(),
        }
    }

    /// The hosts that bypass the proxy.
    pub fn no_proxy(&self) -> &NoProxy {
        &self.no_proxy
    }

    /// Whether a request to `host` (a name or an IP literal, IPv6 with or
    /// without brackets) on `port` goes through the proxy: not for loopback
    /// hosts, not for hosts [`NoProxy`] matches.
    pub fn applies_to(&self, host: &str, port: u16) -> bool {
        !Endpoint::is_loopback_host(host) && !self.no_proxy.matches(host, port)
    }

    /// [`ProxyRoute::applies_to`] for a request's URI (the port defaults to
    /// the scheme's); says so in a debug event when it does. Both
    /// transports route each request with this.
    pub fn applies_to_uri(&self, uri: &http::Uri) -> bool {
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        let applies = self.applies_to(host, port);
        if applies {
            tracing::debug!(proxy = %self.redacted_url(), host, "through the proxy");
        }
        applies
    }
}

impl std::fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRoute")
            .field("url", &self.redacted_url())
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// The hosts that bypass the proxy: a `NO_PROXY` list.
///
/// Entries are separated by commas or white space and compared without
/// regard to case:
///
/// * `*` alone: every host;
/// * a domain, with or without a leading `.` or `*.`: that host and every
///   host under it (`example.com` and `.example.com` both match
///   `example.com` and `a.example.com`, as in Python's urllib, which the AWS
///   CLI uses, and curl);
/// * an IP address (IPv6 with or without brackets): a URL with that literal
///   address;
/// * a CIDR block such as `10.0.0.0/8` or `fd00::/8`: a URL whose host is an
///   address inside it. botocore ignores this form (urllib compares text
///   only); the Go and Rust SDKs and curl accept it;
/// * any of the above with `:port`: only requests to that port.
///
/// Names are not resolved: an IP entry matches only a URL written with that
/// address, as in every tool above.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoProxy {
    every_host: bool,
    entries: Vec<NoProxyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct NoProxyEntry {
    pattern: Pattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Domain(String),
    Block { network: IpAddr, prefix: u8 },
}

impl NoProxy {
    /// Reads a `NO_PROXY` list; entries that fit none of the forms are
    /// kept as domains, so nothing the user wrote is silently dropped.
    pub fn parse(list: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for item in list.split(|c: char| c == ',' || c.is_whitespace()) {
            let item = item.trim().to_ascii_lowercase();
            if item.is_empty() {
                continue;
            }
            if item == "*" {
                no_proxy.every_host = true;
                continue;
            }
            no_proxy.entries.push(NoProxyEntry::parse(&item));
        }
        no_proxy
    }

    /// Whether a request to `host` on `port` bypasses the proxy.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.every_host {
            return true;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| {
            entry.port.is_none_or(|p| p == port)
                && match (&entry.pattern, ip) {
                    (Pattern::Block { network, prefix }, Some(ip)) => {
                        in_block(ip, *network, *prefix)
                    }
                    (Pattern::Block { .. }, None) => false,
                    (Pattern::Domain(domain), _) => {
                        host == *domain
                            || host
                                .strip_suffix(domain.as_str())
                                .is_some_and(|head| head.ends_with('.'))
                    }
                }
        })
    }

    /// Whether the list is empty (no host bypasses the proxy).
    pub fn is_empty(&self) -> bool {
        !self.every_host && self.entries.is_empty()
    }
}

impl NoProxyEntry {
    fn parse(item: &str) -> NoProxyEntry {
        // A bare IPv6 address or block has colons that are not a port.
        if let Some(entry) = NoProxyEntry::address(item, None) {
            return entry;
        }
        let (body, port) = match item.rsplit_once(':') {
            Some((body, port)) if !body.is_empty() => match port.parse::<u16>() {
                Ok(port) => (body, Some(port)),
                Err(_) => (item, None),
            },
            _ => (item, None),
        };
        if let Some(entry) = NoProxyEntry::address(body, port) {
            return entry;
        }
        let domain = body
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.');
        NoProxyEntry {
            pattern: Pattern::Domain(domain.to_owned()),
            port,
        }
    }

    /// An IP address (`10.1.2.3`, `::1`, `[::1]`) or block (`10.0.0.0/8`).
    fn address(text: &str, port: Option<u16>) -> Option<NoProxyEntry> {
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        let (address, prefix) = match bare.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (bare, None),
        };
        let network = address.parse::<IpAddr>().ok()?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        (prefix <= width).then_some(NoProxyEntry {
            pattern: Pattern::Block { network, prefix },
            port,
        })
    }
}

/// Whether `ip` lies in `network/prefix`; an IPv4 address written as
/// IPv4-mapped IPv6 counts as itself.
fn in_block(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX
                .checked_shl(32u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX
                .checked_shl(128u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn route(no_proxy: &str) -> ProxyRoute {
        ProxyRoute::new("http://proxy.corp:3128", NoProxy::parse(no_proxy)).unwrap()
    }

    #[test]
    fn domains_match_themselves_and_what_is_under_them_with_or_without_a_dot() {
        for list in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com.",
        ] {
            let no_proxy = NoProxy::parse(list);
            assert!(no_proxy.matches("example.com", 443), "{list}");
            assert!(no_proxy.matches("a.b.Example.COM", 443), "{list}");
            assert!(no_proxy.matches("example.com.", 443), "{list}");
            assert!(!no_proxy.matches("badexample.com", 443), "{list}");
            assert!(!no_proxy.matches("example.com.evil", 443), "{list}");
        }
    }

    #[test]
    fn lists_split_on_commas_and_spaces_and_a_star_matches_everything() {
        let no_proxy = NoProxy::parse(" a.test ,b.test  c.test,,");
        for host in ["a.test", "b.test", "x.c.test"] {
            assert!(no_proxy.matches(host, 1), "{host}");
        }
        assert!(!no_proxy.matches("d.test", 1));
        assert!(NoProxy::parse("x.test,*").matches("anything.example", 443));
        assert!(NoProxy::parse("").is_empty());
        assert!(!NoProxy::parse("").matches("example.com", 443));
    }

    #[test]
    fn addresses_and_blocks_match_literal_hosts_only() {
        let no_proxy = NoProxy::parse("10.0.0.0/8, 192.168.1.7, fd00::/8, [2001:db8::1]");
        assert!(no_proxy.matches("10.200.3.4", 443));
        assert!(!no_proxy.matches("11.0.0.1", 443));
        assert!(no_proxy.matches("192.168.1.7", 443));
        assert!(!no_proxy.matches("192.168.1.8", 443));
        assert!(no_proxy.matches("[fd12:3456::1]", 443));
        assert!(no_proxy.matches("fd12:3456::1", 443));
        assert!(no_proxy.matches("[2001:db8::1]", 443));
        assert!(!no_proxy.matches("2001:db8::2", 443));
        assert!(no_proxy.matches("::ffff:10.1.1.1", 443), "IPv4-mapped");
        assert!(
            !no_proxy.matches("ten.example", 443),
            "names are not resolved"
        );
        assert!(NoProxy::parse("0.0.0.0/0").matches("203.0.113.9", 443));
    }

    #[test]
    fn a_port_limits_an_entry_to_that_port() {
        let no_proxy = NoProxy::parse("example.com:8443, 10.0.0.0/8:443, [::1]:9");
        assert!(no_proxy.matches("example.com", 8443));
        assert!(!no_proxy.matches("example.com", 443));
        assert!(no_proxy.matches("10.1.1.1", 443));
        assert!(!no_proxy.matches("10.1.1.1", 80));
        assert!(no_proxy.matches("::1", 9));
    }

    #[test]
    fn loopback_never_takes_the_proxy() {
        let route = route("");
        for host in ["127.0.0.1", "localhost", "[::1]", "::1", "127.8.9.1"] {
            assert!(!route.applies_to(host, 8080), "{host}");
        }
        assert!(route.applies_to("oidc.eu-west-1.amazonaws.com", 443));
    }

    #[test]
    fn a_uri_without_a_port_has_its_scheme_s() {
        let route = route("example.com:443, plain.test:80");
        let uri = |text: &str| text.parse::<http::Uri>().unwrap();
        assert!(!route.applies_to_uri(&uri("https://example.com/token")));
        assert!(route.applies_to_uri(&uri("https://example.com:8443/token")));
        assert!(!route.applies_to_uri(&uri("http://plain.test/")));
        assert!(!route.applies_to_uri(&uri("http://127.0.0.1:9/")));
        assert!(route.applies_to_uri(&uri("https://oidc.us-east-1.amazonaws.com/token")));
    }

    #[test]
    fn the_environment_is_read_lower_case_first_and_empty_counts_as_unset() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(ProxyRoute::from_env(env(&[])).unwrap(), None);
        let r = ProxyRoute::from_env(env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(r.url(), "http://lower:2");
        let r = ProxyRoute::from_env(env(&[("https_proxy", " "), ("ALL_PROXY", "all:3")]))
            .unwrap()
            .unwrap();
        assert_eq!(r.url(), "http://all:3");
        let r = ProxyRoute::from_env(env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", ".internal"),
        ]))
        .unwrap()
        .unwrap();
        assert!(!r.applies_to("sso.internal", 443));
        let error = ProxyRoute::from_env(env(&[("HTTPS_PROXY", "socks5://p:1")])).unwrap_err();
        assert_eq!(error.source, "HTTPS_PROXY");
        assert!(error.to_string().contains("socks5"), "{error}");
    }

    #[test]
    fn proxy_urls_are_checked_and_their_passwords_kept_out_of_messages() {
        let r = ProxyRoute::new("http://me:s3cret@proxy:8080/", NoProxy::default()).unwrap();
        assert_eq!(r.url(), "http://me:s3cret@proxy:8080");
        assert_eq!(r.redacted_url(), "http://***@proxy:8080");
        assert!(!format!("{r:?}").contains("s3cret"));
        assert!(ProxyRoute::new("proxy:notaport", NoProxy::default()).is_err());
        assert!(ProxyRoute::new("http://", NoProxy::default()).is_err());
        let error = ProxyRoute::new("http://me:s3cret@:1", NoProxy::default()).unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert_eq!(
            ProxyRoute::new("[::1]:3128", NoProxy::default())
                .unwrap()
                .url(),
            "http://[::1]:3128"
        );
    }

    proptest! {
        #[test]
        fn a_block_holds_exactly_the_addresses_that_share_its_prefix(
            network: u32, ip: u32, prefix in 0u8..=32,
        ) {
            let no_proxy = NoProxy::parse(&format!("{}/{prefix}", std::net::Ipv4Addr::from(network)));
            let shift = 32 - u32::from(prefix);
            let same = u64::from(network) >> shift == u64::from(ip) >> shift;
            prop_assert_eq!(no_proxy.matches(&std::net::Ipv4Addr::from(ip).to_string(), 443), same);
        }

        #[test]
        fn parsing_never_panics_and_a_listed_domain_always_matches(list in "[a-z0-9.,:*/ \\[\\]-]{0,40}") {
            let no_proxy = NoProxy::parse(&list);
            for item in list.split([',', ' ']) {
                let item = item.trim();
                if item.contains(['*', '/', ':', '[', ']']) || item.trim_matches('.').is_empty()
                    || item.parse::<IpAddr>().is_ok()
                {
                    continue;
                }
                let host = item.trim_matches('.');
                prop_assert!(no_proxy.matches(host, 443), "{} in {:?}", host, list);
            }
        }
    }
}
