//! The local certificate authority: creating, loading and describing it.
//!
//! The CA is an ECDSA P-256 key pair made with rcgen. Its key never signs
//! anything but leaf certificates (see [`leaf`]), and is written 0600 into a
//! directory created 0700.

pub mod constrained;
pub mod files;
pub mod install;
pub mod leaf;

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

/// Where the CA's certificate and key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path} is not a usable CA certificate: {reason}")]
    BadCert { path: PathBuf, reason: String },
    #[error("{path} is not a usable private key: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("the CA certificate exists at {0} but its key is missing (use `switchyard ca init --force` to replace both)")]
    KeyMissing(PathBuf),
    #[error("a CA already exists at {0} (use --force to replace it; every client must then trust the new one)")]
    Exists(PathBuf),
}

/// A loaded CA, ready to sign leaves.
pub struct Authority {
    pub paths: CaPaths,
    /// The certificate clients trust (the root, for a constrained CA).
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    /// Certificates between the trusted one and a leaf (the intermediate of
    /// a constrained CA), sent with every leaf.
    pub chain: Vec<CertificateDer<'static>>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

/// What `switchyard ca show` prints.
#[derive(Debug, Clone)]
pub struct CaInfo {
    pub subject: String,
    pub sha256_fingerprint: String,
    pub not_after: String,
}

pub(crate) const CA_COMMON_NAME: &str = "switchyard local CA";
const CA_VALIDITY_DAYS: i64 = 3650;

impl Authority {
    /// Loads the CA, creating it first when neither file exists.
    pub fn load_or_create(paths: &CaPaths) -> Result<Authority, CaError> {
        match (paths.cert.exists(), paths.key.exists()) {
            (false, false) => {
                create(paths)?;
                tracing::info!(cert = %paths.cert.display(), "created a new local CA");
            }
            (true, false) => return Err(CaError::KeyMissing(paths.cert.clone())),
            _ => {}
        }
        Authority::load(paths)
    }

    /// `ca init`: creates the CA, refusing to replace one unless forced.
    pub fn init(paths: &CaPaths, force: bool) -> Result<Authority, CaError> {
        if !force && (paths.cert.exists() || paths.key.exists()) {
            return Err(CaError::Exists(paths.cert.clone()));
        }
        create(paths)?;
        Authority::load(paths)
    }

    /// `ca init --constrained`: a trusted root and a name-constrained
    /// intermediate for `hosts`; the root key is never stored.
    pub fn init_constrained(
        paths: &CaPaths,
        hosts: &[String],
        force: bool,
    ) -> Result<Authority, CaError> {
        if !force && (paths.cert.exists() || paths.key.exists()) {
            return Err(CaError::Exists(paths.cert.clone()));
        }
        constrained::create(paths, hosts)?;
        Authority::load(paths)
    }

    pub fn load(paths: &CaPaths) -> Result<Authority, CaError> {
        let cert_pem = files::read_to_string(&paths.cert)?;
        let intermediate = constrained::intermediate_path(paths);
        let (signer_path, chain) = if intermediate.exists() {
            let pem = files::read_to_string(&intermediate)?;
            let der =
                CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| CaError::BadCert {
                    path: intermediate.clone(),
                    reason: e.to_string(),
                })?;
            (intermediate, vec![der])
        } else {
            (paths.cert.clone(), Vec::new())
        };
        let key_pem = files::read_to_string(&paths.key)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| CaError::BadKey {
            path: paths.key.clone(),
            reason: e.to_string(),
        })?;
        let cert_der =
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| CaError::BadCert {
                path: paths.cert.clone(),
                reason: e.to_string(),
            })?;
        let signer = chain.first().unwrap_or(&cert_der);
        let issuer = Issuer::from_ca_cert_der(signer, key).map_err(|e| CaError::BadCert {
            path: signer_path,
            reason: e.to_string(),
        })?;
        Ok(Authority {
            paths: paths.clone(),
            cert_pem,
            cert_der,
            chain,
            issuer,
        })
    }

    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    pub fn info(&self) -> Result<CaInfo, CaError> {
        describe(&self.cert_der).map_err(|reason| CaError::BadCert {
            path: self.paths.cert.clone(),
            reason,
        })
    }
}

/// Subject, SHA-256 fingerprint (colon-separated hex, as browsers show it) and expiry.
pub fn describe(der: &[u8]) -> Result<CaInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(CaInfo {
        subject: cert.subject().to_string(),
        sha256_fingerprint: fingerprint,
        not_after: cert.validity().not_after.to_string(),
    })
}

/// Parameters of a CA certificate: `path_len` CAs may follow it.
pub(crate) fn ca_params_named(
    cn: &str,
    days: i64,
    path_len: u8,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "switchyard");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(days);
    Ok(params)
}

fn ca_params() -> Result<CertificateParams, CaError> {
    ca_params_named(CA_COMMON_NAME, CA_VALIDITY_DAYS, 0)
}

fn create(paths: &CaPaths) -> Result<(), CaError> {
    // A previous constrained CA's intermediate must not outlive it.
    let _ = std::fs::remove_file(constrained::intermediate_path(paths));
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = ca_params()?.self_signed(&key)?;
    files::write_private(&paths.key, key.serialize_pem().as_bytes())?;
    files::write_public(&paths.cert, cert.pem().as_bytes())?;
    Ok(())
}

/// The default CA location inside the state directory.
pub fn default_paths(state_dir: &Path) -> CaPaths {
    let dir = state_dir.join("ca");
    CaPaths {
        cert: dir.join("ca.pem"),
        key: dir.join("ca-key.pem"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_with_strict_modes_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let paths = default_paths(&dir.path().join("state"));
        let ca = Authority::load_or_create(&paths).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&paths.key), 0o600);
        assert_eq!(mode(&paths.cert), 0o644);
        assert_eq!(mode(paths.cert.parent().unwrap()), 0o700);
        let again = Authority::load_or_create(&paths).unwrap();
        assert_eq!(
            ca.cert_der, again.cert_der,
            "second start must load, not recreate"
        );
        let info = ca.info().unwrap();
        assert!(info.subject.contains(CA_COMMON_NAME));
        assert_eq!(info.sha256_fingerprint.len(), 32 * 3 - 1);
    }

    #[test]
    fn init_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let paths = default_paths(dir.path());
        let first = Authority::init(&paths, false).unwrap();
        assert!(matches!(
            Authority::init(&paths, false),
            Err(CaError::Exists(_))
        ));
        let forced = Authority::init(&paths, true).unwrap();
        assert_ne!(first.cert_der, forced.cert_der);
    }

    #[test]
    fn cert_without_key_is_an_error_not_a_silent_regeneration() {
        let dir = tempfile::tempdir().unwrap();
        let paths = default_paths(dir.path());
        Authority::init(&paths, false).unwrap();
        std::fs::remove_file(&paths.key).unwrap();
        assert!(matches!(
            Authority::load_or_create(&paths),
            Err(CaError::KeyMissing(_))
        ));
    }
}
