//! Where requests go: region → base URL for every partition (`wire-protocol.md`
//! §10), or an explicit override URL, validated so that no input can redirect
//! requests to another host or send secrets over plain HTTP off this machine.

use crate::operation::Operation;

/// A validated SSO OIDC base URL (scheme, host, optional port, optional path prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without a trailing slash, e.g. `https://oidc.us-east-1.amazonaws.com`.
    base: String,
}

/// FIPS and dual-stack choices (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointVariant {
    /// Use the FIPS host.
    pub fips: bool,
    /// Use the dual-stack (IPv4 + IPv6) host.
    pub dual_stack: bool,
}

/// Why a region, endpoint URL or start URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The region is not a single DNS label like `us-east-1`.
    InvalidRegion(String),
    /// The URL cannot be parsed or lacks a scheme or host.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A plain `http://` URL whose host is not loopback.
    InsecureUrl(String),
    /// The start URL is not an `https://` (or loopback `http://`) URL.
    InvalidStartUrl(String),
}

// Hand-written rather than derived with thiserror: it keeps two proc-macro
// crates out of the core's dependency tree.
impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::InvalidRegion(r) => {
                write!(
                    f,
                    "`{r}` is not a valid AWS region name (expected something like `us-east-1`)"
                )
            }
            ConfigError::InvalidUrl { url, why } => {
                write!(f, "`{url}` is not a usable endpoint URL: {why}")
            }
            ConfigError::InsecureUrl(url) => write!(
                f,
                "`{url}` uses plain http:// to a host that is not loopback; use https:// (http is allowed only for 127.0.0.1, ::1 or localhost)"
            ),
            ConfigError::InvalidStartUrl(url) => write!(
                f,
                "`{url}` is not a usable start URL (expected something like https://d-1234567890.awsapps.com/start)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// One row of botocore's `partitions.json`: region prefix labels, DNS suffixes.
struct Partition {
    name: &'static str,
    /// Accepted first labels; the region must then continue with `-<word>-<digits>`.
    prefixes: &'static [&'static [&'static str]],
    dns_suffix: &'static str,
    dual_stack_dns_suffix: &'static str,
}

/// In file order: the first match wins, and no match means `aws` (§10.1).
const PARTITIONS: [Partition; 8] = [
    Partition {
        name: "aws",
        prefixes: &[
            &["us"],
            &["eu"],
            &["ap"],
            &["sa"],
            &["ca"],
            &["me"],
            &["af"],
            &["il"],
            &["mx"],
        ],
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
    },
    Partition {
        name: "aws-cn",
        prefixes: &[&["cn"]],
        dns_suffix: "amazonaws.com.cn",
        dual_stack_dns_suffix: "api.amazonwebservices.com.cn",
    },
    Partition {
        name: "aws-eusc",
        prefixes: &[&["eusc", "de"]],
        dns_suffix: "amazonaws.eu",
        dual_stack_dns_suffix: "api.amazonwebservices.eu",
    },
    Partition {
        name: "aws-iso",
        prefixes: &[&["us", "iso"]],
        dns_suffix: "c2s.ic.gov",
        dual_stack_dns_suffix: "api.aws.ic.gov",
    },
    Partition {
        name: "aws-iso-b",
        prefixes: &[&["us", "isob"]],
        dns_suffix: "sc2s.sgov.gov",
        dual_stack_dns_suffix: "api.aws.scloud",
    },
    Partition {
        name: "aws-iso-e",
        prefixes: &[&["eu", "isoe"]],
        dns_suffix: "cloud.adc-e.uk",
        dual_stack_dns_suffix: "api.cloud-aws.adc-e.uk",
    },
    Partition {
        name: "aws-iso-f",
        prefixes: &[&["us", "isof"]],
        dns_suffix: "csp.hci.ic.gov",
        dual_stack_dns_suffix: "api.aws.hci.ic.gov",
    },
    Partition {
        name: "aws-us-gov",
        prefixes: &[&["us", "gov"]],
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
    },
];

impl Partition {
    /// The partition's `regionRegex`: prefix labels, then `-\w+-\d+` to the end.
    /// Labels are already known to be `[A-Za-z0-9]+` by [`validate_region`].
    fn matches(&self, labels: &[&str]) -> bool {
        self.prefixes.iter().any(|prefix| {
            let Some((head, tail)) = labels.split_at_checked(prefix.len()) else {
                return false;
            };
            head == *prefix
                && matches!(tail, [word, digits]
                    if !word.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        })
    }

    fn of(region: &str) -> &'static Partition {
        let labels: Vec<&str> = region.split('-').collect();
        PARTITIONS
            .iter()
            .find(|p| p.matches(&labels))
            .unwrap_or(&PARTITIONS[0])
    }
}

/// botocore's `validate_region_name`: one DNS label of letters, digits and
/// hyphens, 1–63 long, not all digits, not starting or ending with a hyphen.
fn validate_region(region: &str) -> Result<(), ConfigError> {
    let ok = !region.is_empty()
        && region.len() <= 63
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-')
        && !region.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidRegion(region.to_owned()))
    }
}

impl Endpoint {
    /// The endpoint the AWS SDKs' rule set picks for a region (§10.1). Unknown but
    /// well-formed regions fall into the `aws` partition, as botocore does.
    ///
    /// ```
    /// use ssoflow_core::{Endpoint, EndpointVariant};
    /// let e = Endpoint::for_region("eu-west-1", EndpointVariant::default())?;
    /// assert_eq!(e.base_url(), "https://oidc.eu-west-1.amazonaws.com");
    /// assert!(Endpoint::for_region("us-east-1.evil.com", EndpointVariant::default()).is_err());
    /// # Ok::<(), ssoflow_core::ConfigError>(())
    /// ```
    pub fn for_region(region: &str, variant: EndpointVariant) -> Result<Endpoint, ConfigError> {
        Endpoint::resolve(region, variant, "oidc")
    }

    /// The SSO portal API's endpoint (GetRoleCredentials and friends) for the
    /// `sso_region`, by the same rules with the `portal.sso` host label
    /// (`portal-api.md` §3: the FIPS label is `portal.sso-fips`).
    ///
    /// ```
    /// use ssoflow_core::{Endpoint, EndpointVariant};
    /// let fips = EndpointVariant { fips: true, dual_stack: false };
    /// let e = Endpoint::portal_for_region("us-east-1", fips)?;
    /// assert_eq!(e.base_url(), "https://portal.sso-fips.us-east-1.amazonaws.com");
    /// # Ok::<(), ssoflow_core::ConfigError>(())
    /// ```
    pub fn portal_for_region(
        region: &str,
        variant: EndpointVariant,
    ) -> Result<Endpoint, ConfigError> {
        Endpoint::resolve(region, variant, "portal.sso")
    }

    /// The rule set shared by both services, for the host label `label`.
    fn resolve(
        region: &str,
        variant: EndpointVariant,
        label: &str,
    ) -> Result<Endpoint, ConfigError> {
        validate_region(region)?;
        let p = Partition::of(region);
        // Every partition of §10.2 supports both FIPS and dual-stack, so no
        // combination is an error; GovCloud's regular host already is FIPS.
        let base = match (variant.fips, variant.dual_stack) {
            (true, true) => format!("https://{label}-fips.{region}.{}", p.dual_stack_dns_suffix),
            (true, false) if p.name == "aws-us-gov" => {
                format!("https://{label}.{region}.amazonaws.com")
            }
            (true, false) => format!("https://{label}-fips.{region}.{}", p.dns_suffix),
            (false, true) => format!("https://{label}.{region}.{}", p.dual_stack_dns_suffix),
            (false, false) => format!("https://{label}.{region}.{}", p.dns_suffix),
        };
        Ok(Endpoint { base })
    }

    /// An explicit endpoint URL (`--endpoint-url`, `AWS_ENDPOINT_URL_SSO_OIDC`).
    /// A path prefix is kept (`http://127.0.0.1:8080/prefix` → `/prefix/token`);
    /// `http://` is accepted only for loopback hosts; query and fragment are refused.
    pub fn from_url(url: &str) -> Result<Endpoint, ConfigError> {
        let invalid = |why| ConfigError::InvalidUrl {
            url: url.to_owned(),
            why,
        };
        let uri: http::Uri = url
            .trim()
            .parse()
            .map_err(|_| invalid("it does not parse as a URL"))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| invalid("it has no scheme (add https://)"))?;
        let authority = uri.authority().ok_or_else(|| invalid("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("user information in the URL is not supported"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("it has no host"));
        }
        // `http` drops a port it cannot read; whatever follows the host must be a real one.
        let has_port_text = authority
            .as_str()
            .strip_prefix(host)
            .is_some_and(|rest| !rest.is_empty());
        if has_port_text && authority.port_u16().is_none_or(|p| p == 0) {
            return Err(invalid("its port is not a number from 1 to 65535"));
        }
        if uri.query().is_some() {
            return Err(invalid("a query string is not allowed in an endpoint URL"));
        }
        match scheme {
            "https" => {}
            "http" if Endpoint::is_loopback_host(host) => {}
            "http" => return Err(ConfigError::InsecureUrl(url.to_owned())),
            _ => return Err(invalid("the scheme must be https (or http for loopback)")),
        }
        let path = uri.path().trim_end_matches('/');
        let base = format!("{scheme}://{}{path}", authority.as_str());
        // Re-check that every request URI built from it parses.
        let endpoint = Endpoint { base };
        for op in Operation::ALL {
            endpoint
                .uri(op)
                .map_err(|_| invalid("it cannot be joined with the API paths"))?;
        }
        Ok(endpoint)
    }

    /// True for a loopback host: `localhost`, 127.0.0.0/8 and `::1` (with or
    /// without brackets). Plain HTTP is allowed only to these, and transports send
    /// to them directly, never through a proxy.
    pub fn is_loopback_host(host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.eq_ignore_ascii_case("localhost") {
            return true;
        }
        bare.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The browser-facing `/authorize` URL of the authorization-code grant:
    /// scheme and host (with port) of the base URL only, so a path prefix of
    /// a custom endpoint is dropped, as the AWS CLI does (`wire-protocol.md` §7).
    pub fn authorize_url(&self) -> String {
        let after_scheme = self.base.find("://").map_or(0, |i| i.saturating_add(3));
        let origin_end = self
            .base
            .get(after_scheme..)
            .and_then(|rest| rest.find('/'))
            .map_or(self.base.len(), |i| i.saturating_add(after_scheme));
        format!(
            "{}/authorize",
            self.base.get(..origin_end).unwrap_or(&self.base)
        )
    }

    /// The full URI of an operation.
    pub fn uri(&self, op: Operation) -> Result<http::Uri, http::uri::InvalidUri> {
        format!("{}{}", self.base, op.path()).parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(region: &str, fips: bool, dual_stack: bool) -> String {
        Endpoint::for_region(region, EndpointVariant { fips, dual_stack })
            .unwrap()
            .base_url()
            .to_owned()
    }

    #[test]
    fn every_row_of_the_portal_table() {
        // portal-api.md §3.2, resolved by botocore 1.43.11.
        let table = [
            (
                "us-east-1",
                [
                    "https://portal.sso.us-east-1.amazonaws.com",
                    "https://portal.sso-fips.us-east-1.amazonaws.com",
                    "https://portal.sso.us-east-1.api.aws",
                    "https://portal.sso-fips.us-east-1.api.aws",
                ],
            ),
            (
                "eu-west-1",
                [
                    "https://portal.sso.eu-west-1.amazonaws.com",
                    "https://portal.sso-fips.eu-west-1.amazonaws.com",
                    "https://portal.sso.eu-west-1.api.aws",
                    "https://portal.sso-fips.eu-west-1.api.aws",
                ],
            ),
            (
                "cn-north-1",
                [
                    "https://portal.sso.cn-north-1.amazonaws.com.cn",
                    "https://portal.sso-fips.cn-north-1.amazonaws.com.cn",
                    "https://portal.sso.cn-north-1.api.amazonwebservices.com.cn",
                    "https://portal.sso-fips.cn-north-1.api.amazonwebservices.com.cn",
                ],
            ),
            (
                "us-gov-west-1",
                [
                    "https://portal.sso.us-gov-west-1.amazonaws.com",
                    "https://portal.sso.us-gov-west-1.amazonaws.com",
                    "https://portal.sso.us-gov-west-1.api.aws",
                    "https://portal.sso-fips.us-gov-west-1.api.aws",
                ],
            ),
            (
                "eusc-de-east-1",
                [
                    "https://portal.sso.eusc-de-east-1.amazonaws.eu",
                    "https://portal.sso-fips.eusc-de-east-1.amazonaws.eu",
                    "https://portal.sso.eusc-de-east-1.api.amazonwebservices.eu",
                    "https://portal.sso-fips.eusc-de-east-1.api.amazonwebservices.eu",
                ],
            ),
            (
                "us-iso-east-1",
                [
                    "https://portal.sso.us-iso-east-1.c2s.ic.gov",
                    "https://portal.sso-fips.us-iso-east-1.c2s.ic.gov",
                    "https://portal.sso.us-iso-east-1.api.aws.ic.gov",
                    "https://portal.sso-fips.us-iso-east-1.api.aws.ic.gov",
                ],
            ),
            (
                "xx-fake-1",
                [
                    "https://portal.sso.xx-fake-1.amazonaws.com",
                    "https://portal.sso-fips.xx-fake-1.amazonaws.com",
                    "https://portal.sso.xx-fake-1.api.aws",
                    "https://portal.sso-fips.xx-fake-1.api.aws",
                ],
            ),
        ];
        for (region, urls) in table {
            for (i, (fips, dual_stack)) in
                [(false, false), (true, false), (false, true), (true, true)]
                    .into_iter()
                    .enumerate()
            {
                let e = Endpoint::portal_for_region(region, EndpointVariant { fips, dual_stack })
                    .unwrap();
                assert_eq!(
                    e.base_url(),
                    urls[i],
                    "{region} fips={fips} dual={dual_stack}"
                );
            }
        }
    }

    #[test]
    fn the_authorize_url_drops_a_path_prefix() {
        let at = |url: &str| Endpoint::from_url(url).unwrap().authorize_url();
        assert_eq!(
            at("https://oidc.us-east-1.amazonaws.com"),
            "https://oidc.us-east-1.amazonaws.com/authorize"
        );
        assert_eq!(
            at("http://127.0.0.1:8080/prefix/deeper/"),
            "http://127.0.0.1:8080/authorize"
        );
        assert_eq!(at("http://[::1]:9/p"), "http://[::1]:9/authorize");
    }

    #[test]
    fn every_row_of_the_resolved_examples_table() {
        let table = [
            (
                "us-east-1",
                [
                    "https://oidc.us-east-1.amazonaws.com",
                    "https://oidc-fips.us-east-1.amazonaws.com",
                    "https://oidc.us-east-1.api.aws",
                    "https://oidc-fips.us-east-1.api.aws",
                ],
            ),
            (
                "cn-north-1",
                [
                    "https://oidc.cn-north-1.amazonaws.com.cn",
                    "https://oidc-fips.cn-north-1.amazonaws.com.cn",
                    "https://oidc.cn-north-1.api.amazonwebservices.com.cn",
                    "https://oidc-fips.cn-north-1.api.amazonwebservices.com.cn",
                ],
            ),
            (
                "us-gov-west-1",
                [
                    "https://oidc.us-gov-west-1.amazonaws.com",
                    "https://oidc.us-gov-west-1.amazonaws.com",
                    "https://oidc.us-gov-west-1.api.aws",
                    "https://oidc-fips.us-gov-west-1.api.aws",
                ],
            ),
            (
                "eusc-de-east-1",
                [
                    "https://oidc.eusc-de-east-1.amazonaws.eu",
                    "https://oidc-fips.eusc-de-east-1.amazonaws.eu",
                    "https://oidc.eusc-de-east-1.api.amazonwebservices.eu",
                    "https://oidc-fips.eusc-de-east-1.api.amazonwebservices.eu",
                ],
            ),
        ];
        for (region, [plain, fips, dual, both]) in table {
            assert_eq!(resolve(region, false, false), plain);
            assert_eq!(resolve(region, true, false), fips);
            assert_eq!(resolve(region, false, true), dual);
            assert_eq!(resolve(region, true, true), both);
        }
    }

    #[test]
    fn every_partition_is_reached() {
        let cases = [
            ("af-south-1", "https://oidc.af-south-1.amazonaws.com"),
            ("us-iso-east-1", "https://oidc.us-iso-east-1.c2s.ic.gov"),
            (
                "us-isob-east-1",
                "https://oidc.us-isob-east-1.sc2s.sgov.gov",
            ),
            (
                "eu-isoe-west-1",
                "https://oidc.eu-isoe-west-1.cloud.adc-e.uk",
            ),
            (
                "us-isof-south-1",
                "https://oidc.us-isof-south-1.csp.hci.ic.gov",
            ),
            ("xx-fake-1", "https://oidc.xx-fake-1.amazonaws.com"),
        ];
        for (region, want) in cases {
            assert_eq!(resolve(region, false, false), want, "{region}");
        }
        assert_eq!(
            resolve("us-isob-east-1", false, true),
            "https://oidc.us-isob-east-1.api.aws.scloud"
        );
        assert_eq!(
            resolve("us-isof-south-1", true, true),
            "https://oidc-fips.us-isof-south-1.api.aws.hci.ic.gov"
        );
        assert_eq!(
            resolve("eu-isoe-west-1", true, false),
            "https://oidc-fips.eu-isoe-west-1.cloud.adc-e.uk"
        );
    }

    #[test]
    fn hostile_regions_are_refused() {
        for bad in [
            "",
            "us-east-1.evil.com",
            "evil.com/",
            "-us",
            "us-",
            "123",
            "us east",
            "us-east-1#",
            "us-east-1@x",
            "a/b",
            "ü-1",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(
                    Endpoint::for_region(bad, EndpointVariant::default()),
                    Err(ConfigError::InvalidRegion(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn overrides_keep_the_path_prefix() {
        let e = Endpoint::from_url("http://127.0.0.1:8080/prefix/").unwrap();
        assert_eq!(
            e.uri(Operation::CreateToken).unwrap().to_string(),
            "http://127.0.0.1:8080/prefix/token"
        );
        let e = Endpoint::from_url("https://sso.example.com").unwrap();
        assert_eq!(
            e.uri(Operation::RegisterClient).unwrap().to_string(),
            "https://sso.example.com/client/register"
        );
        for ok in ["http://localhost:1", "http://[::1]:9/x", "http://127.5.6.7"] {
            assert!(Endpoint::from_url(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn insecure_and_malformed_urls_are_refused() {
        assert!(matches!(
            Endpoint::from_url("http://example.com"),
            Err(ConfigError::InsecureUrl(_))
        ));
        assert!(matches!(
            Endpoint::from_url("http://10.0.0.1:80"),
            Err(ConfigError::InsecureUrl(_))
        ));
        assert!(matches!(
            Endpoint::from_url("http://127.0.0.1.evil.com"),
            Err(ConfigError::InsecureUrl(_))
        ));
        for bad in [
            "",
            "oidc.us-east-1.amazonaws.com",
            "ftp://x",
            "https://",
            "https://u:p@host",
            "https://h/?a=b",
            "https://h:99999",
            "https://h:0",
            "https://h:x",
            "/just/path",
        ] {
            assert!(Endpoint::from_url(bad).is_err(), "{bad:?}");
        }
    }
}
