//! The emulator's command-line flags, as a clap `Args` struct so that the
//! `ssoflow emulator` command reuses them unchanged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ssoflow_test_transport::{AutoApprove, ServiceConfig};

use crate::{AccountsFile, EmulatorConfig, TlsSettings};

/// The emulator's flags. Durations take a unit (`90s`, `10m`, `8h`, `90d`,
/// `500ms`); a bare number is seconds.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Port to listen on; 0 picks a free one. The first line printed is the base URL.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on. Anything but loopback exposes an unauthenticated
    /// token issuer to the network, so it must be asked for here explicitly.
    #[arg(long, value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// Minimum time between polls, announced as `interval`.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub interval: DurationArg,
    /// Lifetime of device and user codes, announced as `expiresIn`.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub device_code_ttl: DurationArg,
    /// Lifetime of access tokens.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub token_ttl: DurationArg,
    /// Lifetime of client registrations.
    #[arg(long, default_value = "90d", value_name = "DURATION")]
    pub registration_ttl: DurationArg,
    /// Issue no refresh tokens, as for a legacy (scope-less) configuration.
    #[arg(long)]
    pub no_refresh_tokens: bool,
    /// Approve every device code without a person: on its first poll, or on the
    /// first poll at least SECONDS after it was issued. Every `/authorize`
    /// request is approved at once, whatever SECONDS (it has no polls).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "0")]
    pub auto_approve: Option<DurationArg>,
    /// Answer every early poll with `slow_down`; by default one early poll per
    /// code is tolerated, because the AWS CLI polls twice back to back.
    #[arg(long)]
    pub strict_interval: bool,
    /// Keep registrations, pending authorizations, refresh and access tokens
    /// in this file across restarts (written atomically, mode 0600).
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,
    /// The portal API's accounts and roles for the signed-in person: a JSON
    /// array of {"accountId": "111122223333", "accountName": "Dev",
    /// "emailAddress": "dev@example.com", "roles": ["ReadOnlyAccess"]}
    /// (name, email and roles optional). Default: 111122223333 "Dev" with
    /// AdministratorAccess and ReadOnlyAccess, 444455556666 "Prod" with
    /// ReadOnlyAccess and Billing.
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<AccountsFile>,
    /// Lifetime of role credentials from GetRoleCredentials; never beyond
    /// the expiry of the access token that asked for them.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub role_session_ttl: DurationArg,
    /// Answer more than N portal requests in any one second with 429
    /// TooManyRequestsException, as the real portal throttles (about 20).
    /// Default: no limit.
    #[arg(long, value_name = "N")]
    pub portal_rate_limit: Option<u32>,
    /// Serve HTTPS instead of HTTP on the same port, with a certificate for
    /// 127.0.0.1, ::1 and localhost signed by a CA generated at start-up
    /// (its key never leaves the process); see --tls-ca-out.
    #[arg(long)]
    pub tls: bool,
    /// One more DNS name or IP address for the generated certificate
    /// (repeatable), e.g. the name other hosts use for a --bind address.
    #[arg(
        long = "tls-host",
        value_name = "NAME_OR_IP",
        value_parser = parse_tls_host,
        requires = "tls",
        conflicts_with = "tls_cert"
    )]
    pub tls_hosts: Vec<String>,
    /// Write the generated CA's certificate (PEM) to PATH before the base URL
    /// is printed, for clients to trust (AWS_CA_BUNDLE=PATH). Not with
    /// --tls-cert: the emulator has no CA then.
    #[arg(
        long,
        value_name = "PATH",
        requires = "tls",
        conflicts_with = "tls_cert"
    )]
    pub tls_ca_out: Option<PathBuf>,
    /// Serve this certificate chain instead of a generated one (PEM, the
    /// server's certificate first, then intermediates); implies --tls.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, RSA or EC, unencrypted).
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl EmulatorArgs {
    /// The configuration these flags describe.
    pub fn to_config(&self) -> EmulatorConfig {
        let ip = self.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        EmulatorConfig {
            bind: SocketAddr::new(ip, self.port),
            // Only `--bind` can name another address, and doing so is the
            // explicit choice the emulator asks for.
            allow_non_loopback: self.bind.is_some(),
            service: ServiceConfig {
                interval: self.interval.0,
                device_code_ttl: self.device_code_ttl.0,
                token_ttl: self.token_ttl.0,
                registration_ttl: self.registration_ttl.0,
                issue_refresh_tokens: !self.no_refresh_tokens,
                auto_approve: self
                    .auto_approve
                    .map(|delay| AutoApprove::AfterDelay(delay.0)),
                early_poll_tolerance: if self.strict_interval { 0 } else { 1 },
                accounts: match &self.accounts {
                    Some(file) => file.accounts.clone(),
                    None => ServiceConfig::default().accounts,
                },
                role_session_ttl: self.role_session_ttl.0,
                portal_rate_limit: self.portal_rate_limit,
                ..ServiceConfig::default()
            },
            state_file: self.state_file.clone(),
            tls: self.tls_settings(),
            ..EmulatorConfig::default()
        }
    }

    fn tls_settings(&self) -> Option<TlsSettings> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(certificate_chain), Some(private_key)) => Some(TlsSettings::FromFiles {
                certificate_chain: certificate_chain.clone(),
                private_key: private_key.clone(),
            }),
            _ if self.tls => Some(TlsSettings::Generated {
                extra_hosts: self.tls_hosts.clone(),
            }),
            _ => None,
        }
    }
}

/// A `--tls-host` value: an IP address or a DNS name, checked here so that a
/// typo is a usage error naming the flag.
fn parse_tls_host(text: &str) -> Result<String, String> {
    match rustls_pki_types::ServerName::try_from(text) {
        Ok(_) => Ok(text.to_owned()),
        Err(_) => Err(format!(
            "{text:?} is neither an IP address nor a DNS name; give e.g. 192.168.1.10 or \
             emulator.test"
        )),
    }
}

/// A duration on the command line: a number with an optional unit
/// (`ms`, `s`, `m`, `h`, `d`; seconds when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationArg(pub Duration);

impl FromStr for DurationArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let bad = || format!("{text:?} is not a duration; write e.g. 30s, 10m, 8h, 90d or 500ms");
        let number: u64 = number.parse().map_err(|_| bad())?;
        let unit_seconds = match unit {
            "ms" => return Ok(DurationArg(Duration::from_millis(number))),
            "" | "s" => 1,
            "m" => 60,
            "h" => 60 * 60,
            "d" => 24 * 60 * 60,
            _ => return Err(bad()),
        };
        number
            .checked_mul(unit_seconds)
            .map(|seconds| DurationArg(Duration::from_secs(seconds)))
            .ok_or_else(|| format!("{text:?} is too long a duration"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    fn parse(argv: &[&str]) -> Result<EmulatorConfig, clap::Error> {
        let argv = std::iter::once("ssoflow-emulator").chain(argv.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.args.to_config())
    }

    #[test]
    fn durations_take_units() {
        let secs = |s: &str| s.parse::<DurationArg>().map(|d| d.0);
        assert_eq!(secs("45"), Ok(Duration::from_secs(45)));
        assert_eq!(secs("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(secs("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(secs("8h"), Ok(Duration::from_secs(28_800)));
        assert_eq!(secs("90d"), Ok(Duration::from_secs(7_776_000)));
        assert_eq!(secs("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(secs("ten").unwrap_err().contains("30s"));
        assert!(secs("5w").is_err());
        assert!(secs("-5").is_err());
        assert!(secs("99999999999999999999d").is_err());
    }

    #[test]
    fn defaults_are_the_real_services_on_loopback() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.bind, "127.0.0.1:0".parse().unwrap());
        assert!(!config.allow_non_loopback);
        let real = ServiceConfig::default();
        assert_eq!(config.service.interval, real.interval);
        assert_eq!(config.service.device_code_ttl, real.device_code_ttl);
        assert_eq!(config.service.token_ttl, real.token_ttl);
        assert_eq!(config.service.registration_ttl, real.registration_ttl);
        assert_eq!(config.service.early_poll_tolerance, 1);
        assert_eq!(config.service.auto_approve, None);
        assert!(config.service.issue_refresh_tokens);
        assert_eq!(config.state_file, None);
        assert_eq!(config.service.accounts, real.accounts);
        assert_eq!(config.service.role_session_ttl, real.role_session_ttl);
        assert_eq!(config.service.portal_rate_limit, None);
        assert_eq!(config.tls, None);
    }

    #[test]
    fn every_flag_reaches_the_configuration() {
        let config = parse(&[
            "--port",
            "8123",
            "--bind",
            "0.0.0.0",
            "--interval",
            "2",
            "--device-code-ttl",
            "3m",
            "--token-ttl",
            "8h",
            "--registration-ttl",
            "1d",
            "--no-refresh-tokens",
            "--auto-approve=4",
            "--strict-interval",
            "--state-file",
            "/tmp/s.json",
            "--role-session-ttl",
            "12h",
            "--portal-rate-limit",
            "20",
        ])
        .unwrap();
        assert_eq!(config.bind, "0.0.0.0:8123".parse().unwrap());
        assert!(config.allow_non_loopback);
        assert_eq!(config.service.interval, Duration::from_secs(2));
        assert_eq!(config.service.device_code_ttl, Duration::from_secs(180));
        assert_eq!(config.service.token_ttl, Duration::from_secs(28_800));
        assert_eq!(config.service.registration_ttl, Duration::from_secs(86_400));
        assert!(!config.service.issue_refresh_tokens);
        assert_eq!(
            config.service.auto_approve,
            Some(AutoApprove::AfterDelay(Duration::from_secs(4)))
        );
        assert_eq!(config.service.early_poll_tolerance, 0);
        assert_eq!(config.state_file, Some(PathBuf::from("/tmp/s.json")));
        assert_eq!(config.service.role_session_ttl, Duration::from_secs(43_200));
        assert_eq!(config.service.portal_rate_limit, Some(20));
    }

    #[test]
    fn accounts_come_from_the_file_and_a_bad_one_is_a_usage_error() {
        let dir =
            std::env::temp_dir().join(format!("ssoflow-emulator-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("accounts.json");
        std::fs::write(
            &file,
            r#"[{"accountId": "123456789012", "accountName": "Sandbox", "roles": ["Dev"]}]"#,
        )
        .unwrap();
        let config = parse(&["--accounts", file.to_str().unwrap()]).unwrap();
        assert_eq!(config.service.accounts.len(), 1);
        assert_eq!(config.service.accounts[0].account_id, "123456789012");
        assert_eq!(config.service.accounts[0].roles, ["Dev"]);

        let error = parse(&["--accounts", dir.join("none.json").to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--accounts"), "{error}");
        assert!(error.contains("cannot read the accounts file"), "{error}");
    }

    #[test]
    fn tls_is_generated_or_from_files() {
        let generated = parse(&[
            "--tls",
            "--tls-host",
            "emulator.test",
            "--tls-host",
            "10.0.0.1",
        ])
        .unwrap();
        assert_eq!(
            generated.tls,
            Some(TlsSettings::Generated {
                extra_hosts: vec!["emulator.test".to_owned(), "10.0.0.1".to_owned()]
            })
        );
        let ca_out = parse(&["--tls", "--tls-ca-out", "/tmp/ca.pem"]).unwrap();
        assert!(matches!(ca_out.tls, Some(TlsSettings::Generated { .. })));
        let files = parse(&["--tls-cert", "/tmp/c.pem", "--tls-key", "/tmp/k.pem"]).unwrap();
        assert_eq!(
            files.tls,
            Some(TlsSettings::FromFiles {
                certificate_chain: PathBuf::from("/tmp/c.pem"),
                private_key: PathBuf::from("/tmp/k.pem"),
            })
        );
        let both = parse(&[
            "--tls",
            "--tls-cert",
            "/tmp/c.pem",
            "--tls-key",
            "/tmp/k.pem",
        ])
        .unwrap();
        assert_eq!(both.tls, files.tls);
    }

    #[test]
    fn tls_flags_that_cannot_work_together_are_usage_errors() {
        let error = |argv: &[&str]| parse(argv).err().map(|e| e.to_string()).unwrap_or_default();
        let no_ca = error(&[
            "--tls",
            "--tls-cert",
            "/tmp/c.pem",
            "--tls-key",
            "/tmp/k.pem",
            "--tls-ca-out",
            "/tmp/ca.pem",
        ]);
        assert!(
            no_ca.contains("--tls-ca-out") && no_ca.contains("--tls-cert"),
            "{no_ca}"
        );
        let no_key = error(&["--tls-cert", "/tmp/c.pem"]);
        assert!(no_key.contains("--tls-key"), "{no_key}");
        let no_tls = error(&["--tls-ca-out", "/tmp/ca.pem"]);
        assert!(no_tls.contains("--tls"), "{no_tls}");
        let bad_host = error(&["--tls", "--tls-host", "not a host"]);
        assert!(
            bad_host.contains("--tls-host") && bad_host.contains("emulator.test"),
            "{bad_host}"
        );
    }

    #[test]
    fn auto_approve_without_a_value_approves_on_the_first_poll() {
        let config = parse(&["--auto-approve"]).unwrap();
        assert_eq!(
            config.service.auto_approve,
            Some(AutoApprove::AfterDelay(Duration::ZERO))
        );
    }

    #[test]
    fn a_bad_duration_is_a_usage_error_naming_the_flag() {
        let error = parse(&["--interval", "soon"]).unwrap_err().to_string();
        assert!(error.contains("--interval"), "{error}");
        assert!(error.contains("30s"), "{error}");
    }
}
