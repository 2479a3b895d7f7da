//! HTTPS for the emulator: a server configuration for rustls (ring) from
//! either a certificate authority made at start-up or the user's own PEM
//! files. Clients that insist on HTTPS, or that must be tested against a
//! custom CA bundle (`AWS_CA_BUNDLE`), can then talk to the emulator as they
//! talk to the real service.
//!
//! The generated CA lives only in this process: its private key is never
//! written anywhere, so trusting its certificate trusts nothing once the
//! emulator is gone. It is also name-constrained to the names of the
//! emulator's own certificate, so even while it runs it cannot vouch for
//! any other host.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::TlsAcceptor;

/// The names every generated certificate carries: what `base_url` and a
/// person's browser use on this machine.
const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// How long before start-up the generated certificates are valid, so that a
/// client whose clock is a little behind (a VM, a container) accepts them.
const VALID_BEFORE_START: Duration = Duration::from_secs(24 * 60 * 60);

/// How long after start-up they stay valid: a year, well below the 398 days
/// some platforms enforce for server certificates even from a CA a user
/// installed (macOS refuses longer ones), and longer than any emulator runs.
const VALID_AFTER_START: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Whether the emulator makes its own certificate or serves the user's.
/// Either way it speaks HTTP/1.1 over TLS 1.2 or 1.3 on the same port, and
/// its base URL starts with `https://`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsSettings {
    /// A certificate authority generated at start-up signs a certificate
    /// for `127.0.0.1`, `::1`, `localhost`, the bind address when it is
    /// neither loopback nor unspecified, and `extra_hosts`. The CA's
    /// certificate is then available as [`Emulator::tls_ca_pem`]
    /// (`--tls-ca-out` writes it to a file) for clients to trust.
    ///
    /// [`Emulator::tls_ca_pem`]: crate::Emulator::tls_ca_pem
    Generated {
        /// More DNS names or IP addresses the certificate must be valid for,
        /// e.g. the name other hosts use to reach a `--bind` address.
        extra_hosts: Vec<String>,
    },
    /// The user's certificate and key, read at start-up. No CA is known to
    /// the emulator then, so [`Emulator::tls_ca_pem`] is `None`.
    ///
    /// [`Emulator::tls_ca_pem`]: crate::Emulator::tls_ca_pem
    FromFiles {
        /// A PEM file with the server's certificate first, then any
        /// intermediates its clients need.
        certificate_chain: PathBuf,
        /// A PEM file with the certificate's private key (PKCS#8, PKCS#1 or
        /// SEC1), unencrypted.
        private_key: PathBuf,
    },
}

/// Why HTTPS could not be set up; the emulator does not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// An extra host of [`TlsSettings::Generated`] is neither an IP address
    /// nor a DNS name.
    #[error(
        "{0:?} is neither an IP address nor a DNS name, so no certificate can name it; give \
         e.g. 192.168.1.10 or emulator.test"
    )]
    BadHost(String),
    /// rcgen could not make the CA or the server certificate.
    #[error("cannot generate the emulator's TLS certificate: {0}")]
    Generate(String),
    /// The certificate chain file could not be read or holds no certificate.
    #[error(
        "cannot use the TLS certificate file {path}: {detail}; give a PEM file with the server's \
         certificate first, then its intermediates"
    )]
    CertificateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The private key file could not be read or holds no usable key.
    #[error(
        "cannot use the TLS private key file {path}: {detail}; give a PEM file with one \
         unencrypted PKCS#8, RSA or EC private key (decrypt one with `openssl pkey -in KEY -out \
         PLAIN`)"
    )]
    PrivateKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// rustls refused the pair: the key does not belong to the certificate,
    /// or is of a kind it cannot sign with.
    #[error(
        "the TLS certificate {certificate_chain} and private key {private_key} cannot be served \
         together ({detail}); check that the key is the certificate's own"
    )]
    Rejected {
        /// The certificate chain file.
        certificate_chain: PathBuf,
        /// The private key file.
        private_key: PathBuf,
        /// What rustls said.
        detail: String,
    },
}

/// What the server needs to speak TLS: the acceptor, and the CA's
/// certificate when the emulator made one.
pub(crate) struct ServerTls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) ca_pem: Option<String>,
}

/// Builds the server side of TLS for an emulator that listens on `bind`.
pub(crate) fn configure(settings: &TlsSettings, bind: IpAddr) -> Result<ServerTls, TlsError> {
    let (chain, key, ca_pem) = match settings {
        TlsSettings::Generated { extra_hosts } => {
            let generated = generate(&certificate_names(bind, extra_hosts)?)?;
            (generated.chain, generated.key, Some(generated.ca_pem))
        }
        TlsSettings::FromFiles {
            certificate_chain,
            private_key,
        } => (read_chain(certificate_chain)?, read_key(private_key)?, None),
    };
    let rejected = |error: rustls::Error| match settings {
        TlsSettings::FromFiles {
            certificate_chain,
            private_key,
        } => TlsError::Rejected {
            certificate_chain: certificate_chain.clone(),
            private_key: private_key.clone(),
            detail: error.to_string(),
        },
        TlsSettings::Generated { .. } => TlsError::Generate(error.to_string()),
    };
    // The provider is named here rather than taken from a process-wide
    // default, which a program embedding the emulator may have set to
    // something else, or which may be ambiguous when both ring and aws-lc
    // are linked in.
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(rejected)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(rejected)?;
    // The emulator serves HTTP/1.1 only; saying so lets a client that
    // offers h2 and http/1.1 (a browser, curl) settle on the latter.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem,
    })
}

/// The names of a generated certificate: loopback, the bind address when
/// clients reach it by that address, and the caller's extras, without
/// repeats. Each is checked to be an IP address or a valid DNS name.
pub(crate) fn certificate_names(
    bind: IpAddr,
    extra_hosts: &[String],
) -> Result<Vec<String>, TlsError> {
    let mut names: Vec<String> = LOOPBACK_NAMES.iter().map(|&name| name.to_owned()).collect();
    if !bind.is_loopback() && !bind.is_unspecified() {
        names.push(bind.to_string());
    }
    for host in extra_hosts {
        let name = match ServerName::try_from(host.as_str()) {
            Ok(ServerName::IpAddress(ip)) => IpAddr::from(ip).to_string(),
            Ok(ServerName::DnsName(dns)) => dns.as_ref().to_ascii_lowercase(),
            Ok(_) | Err(_) => return Err(TlsError::BadHost(host.clone())),
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// A CA and a server certificate it signed, made now.
struct Generated {
    /// The server certificate alone: as real servers do, the root a client
    /// must already trust is not sent.
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca_pem: String,
}

fn generate(names: &[String]) -> Result<Generated, TlsError> {
    let failed = |error: rcgen::Error| TlsError::Generate(error.to_string());
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - VALID_BEFORE_START;
    let not_after = now + VALID_AFTER_START;

    let mut ca = CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "ssoflow-emulator local CA");
    ca.distinguished_name.push(
        DnType::OrganizationName,
        "ssoflow-emulator (generated at start-up)",
    );
    // Only the server certificate sits below it.
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.name_constraints = Some(NameConstraints {
        permitted_subtrees: names.iter().map(|name| permitted(name)).collect(),
        excluded_subtrees: Vec::new(),
    });
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_key = KeyPair::generate().map_err(failed)?;
    let ca_certificate = ca.self_signed(&ca_key).map_err(failed)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(names.to_vec()).map_err(failed)?;
    server.distinguished_name = rcgen::DistinguishedName::new();
    server
        .distinguished_name
        .push(DnType::CommonName, "ssoflow-emulator");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = not_before;
    server.not_after = not_after;
    let server_key = KeyPair::generate().map_err(failed)?;
    let server_certificate = server.signed_by(&server_key, &issuer).map_err(failed)?;

    Ok(Generated {
        chain: vec![server_certificate.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        ca_pem: ca_certificate.pem(),
    })
}

/// The name constraint that permits exactly `name` (an IP address as a
/// single-address subnet; a DNS name with its subdomains, as RFC 5280 has it).
fn permitted(name: &str) -> GeneralSubtree {
    match name.parse::<IpAddr>() {
        Ok(ip) => {
            let prefix = if ip.is_ipv4() { 32 } else { 128 };
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(ip, prefix))
        }
        Err(_) => GeneralSubtree::DnsName(name.to_owned()),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |detail: String| TlsError::CertificateFile {
        path: path.to_owned(),
        detail,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|error| bad(pem_problem(&error, "certificate")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad(pem_problem(&error, "certificate")))?;
    if chain.is_empty() {
        return Err(bad(pem_problem(&pem::Error::NoItemsFound, "certificate")));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| TlsError::PrivateKeyFile {
        path: path.to_owned(),
        detail: pem_problem(&error, "private key"),
    })
}

/// A PEM reading error in words (pki-types prints marker lines as byte
/// lists); `what` names the kind of section that was looked for.
fn pem_problem(error: &pem::Error, what: &str) -> String {
    match error {
        pem::Error::Io(error) => error.to_string(),
        pem::Error::NoItemsFound => format!("it holds no PEM {what} (no BEGIN line of that kind)"),
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a PEM section has no end line {}",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "a malformed PEM BEGIN line {:?}",
            String::from_utf8_lossy(line)
        ),
        pem::Error::Base64Decode(detail) => format!("a PEM section is not valid base64 ({detail})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn generated_names_are_loopback_the_bind_address_and_the_extras_once() {
        let lan: IpAddr = "192.168.1.2".parse().unwrap();
        let names = certificate_names(
            lan,
            &[
                "Emulator.Test".to_owned(),
                "::1".to_owned(),
                "10.0.0.1".to_owned(),
            ],
        )
        .unwrap();
        assert_eq!(
            names,
            [
                "127.0.0.1",
                "::1",
                "localhost",
                "192.168.1.2",
                "emulator.test",
                "10.0.0.1"
            ]
        );
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(certificate_names(any, &[]).unwrap(), LOOPBACK_NAMES);
    }

    #[test]
    fn an_extra_host_that_no_certificate_can_name_is_refused() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        for bad in ["", "not a host", "a..b", "https://example.com"] {
            let error = certificate_names(loopback, &[bad.to_owned()]).unwrap_err();
            assert!(matches!(error, TlsError::BadHost(_)), "{bad:?}: {error}");
            assert!(error.to_string().contains("emulator.test"), "{error}");
        }
    }
}
