//! CA bundles: the PEM files named by `AWS_CA_BUNDLE`, a profile's
//! `ca_bundle` or a program's own setting, read before any request so that
//! a wrong path is a configuration error naming the file, not a TLS failure
//! minutes later.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use ssoflow_core::net::{CaBundle, TrustRoots};

/// The environment variable that names a CA bundle for every AWS tool.
pub const CA_BUNDLE_VARIABLE: &str = "AWS_CA_BUNDLE";

/// A CA bundle to use, and who asked for it (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundleSetting {
    /// The PEM file, as given: a relative path is relative to the current
    /// directory, and `~` is not expanded (botocore does not either).
    pub path: PathBuf,
    /// Who named it: `--ca-bundle`, `AWS_CA_BUNDLE`, or the profile's line.
    pub source: String,
}

impl CaBundleSetting {
    /// A bundle named by `source` (e.g. `--ca-bundle`).
    pub fn new(path: impl Into<PathBuf>, source: impl Into<String>) -> CaBundleSetting {
        CaBundleSetting {
            path: path.into(),
            source: source.into(),
        }
    }

    /// Reads the bundle: every `CERTIFICATE` block of the PEM file.
    pub fn load(&self) -> Result<CaBundle, CaBundleError> {
        read_ca_bundle(&self.path, &self.source)
    }

    /// The trust a transport should use: only this bundle's certificates,
    /// which replace the default roots as they do in the AWS tools.
    pub fn trust(&self) -> Result<TrustRoots, CaBundleError> {
        self.load().map(TrustRoots::Bundle)
    }
}

/// Why a CA bundle cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundleError {
    /// The file.
    pub path: PathBuf,
    /// Who named it.
    pub source: String,
    /// What is wrong, and what to do.
    pub problem: String,
}

impl std::fmt::Display for CaBundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the CA bundle {} (from {}) {}",
            self.path.display(),
            self.source,
            self.problem
        )
    }
}

impl std::error::Error for CaBundleError {}

/// Reads the PEM file at `path` (named by `source`) into a bundle of its
/// certificates. Blocks other than `CERTIFICATE` (keys, CRLs) are skipped,
/// as OpenSSL skips them; a file without any certificate, or with a block
/// that is not valid base64, is an error.
pub fn read_ca_bundle(path: &Path, source: &str) -> Result<CaBundle, CaBundleError> {
    let error = |problem: String| CaBundleError {
        path: path.to_owned(),
        source: source.to_owned(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| {
        error(match e.kind() {
            std::io::ErrorKind::NotFound => {
                "does not exist; fix the path or remove the setting".to_owned()
            }
            std::io::ErrorKind::IsADirectory => {
                "is a directory; name the PEM file inside it".to_owned()
            }
            _ => format!("cannot be read: {e}"),
        })
    })?;
    let mut certificates = Vec::new();
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        let certificate = certificate
            .map_err(|e| error(format!("is not a valid PEM file ({e}); export the CA certificate as PEM (base64 between BEGIN/END CERTIFICATE lines)")))?;
        certificates.push(certificate.as_ref().to_vec());
    }
    if certificates.is_empty() {
        return Err(error(
            "holds no certificate (no -----BEGIN CERTIFICATE----- block); \
             a DER file can be converted with `openssl x509 -inform der -in FILE -out FILE.pem`"
                .to_owned(),
        ));
    }
    Ok(CaBundle::new(
        format!("{} (from {source})", path.display()),
        certificates,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    // A real self-signed certificate is not needed to test the framing:
    // the transports check the DER when they build their root store.
    const PEM: &str = "junk before\n-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----\n\
                       -----BEGIN PRIVATE KEY-----\nBAUG\n-----END PRIVATE KEY-----\n\
                       -----BEGIN CERTIFICATE-----\nBwgJ\n-----END CERTIFICATE-----\n";

    fn file(name: &str, contents: &[u8]) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("ssoflow-ca-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bundle.pem");
        std::fs::write(&path, contents).unwrap();
        (dir, path)
    }

    #[test]
    fn every_certificate_block_is_read_and_other_blocks_are_skipped() {
        let (_dir, path) = file("read", PEM.as_bytes());
        let bundle = read_ca_bundle(&path, "AWS_CA_BUNDLE").unwrap();
        assert_eq!(bundle.certificates(), [vec![0, 1, 2, 3], vec![7, 8, 9]]);
        assert!(bundle.source().ends_with("bundle.pem (from AWS_CA_BUNDLE)"));
    }

    #[test]
    fn each_bad_bundle_is_an_error_naming_the_file_and_its_source() {
        let (dir, empty) = file("bad", b"no certificates here\n");
        let missing = dir.join("missing.pem");
        let broken_path = dir.join("broken.pem");
        std::fs::write(
            &broken_path,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for (path, words) in [
            (&empty, "holds no certificate"),
            (&missing, "does not exist"),
            (&broken_path, "not a valid PEM file"),
            (&dir, "is a directory"),
        ] {
            let setting = CaBundleSetting::new(path, "--ca-bundle");
            let error = setting.trust().unwrap_err().to_string();
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert!(error.contains("(from --ca-bundle)"), "{error}");
            assert!(error.contains(words), "{error}");
        }
    }
}
