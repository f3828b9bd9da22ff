//! The one TLS crypto provider (aws-lc-rs) and the client-side trust store.
//!
//! Every rustls config in switchyard is built through here so that exactly one
//! provider is ever used, whatever features other crates enable.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The process-wide crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Installs aws-lc-rs as rustls' default so crates that build their own
/// configs (none today) cannot pick another. Safe to call more than once.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read CA bundle {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    Empty { path: String },
    #[error("{path} holds no PEM private key")]
    NoKey { path: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Reads every certificate of a PEM bundle.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TrustError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

/// Roots for outbound TLS: the system store plus any extra CAs (a corporate
/// proxy's CA must be trusted for the origin leg too when it inspects TLS).
pub fn root_store(extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::warn!("no system root certificates found; only extra CAs are trusted");
    }
    roots.add_parsable_certificates(extra.iter().cloned());
    roots
}

/// A client certificate chain and its key, for servers that ask for one
/// (Redis's `tls-auth-clients`, PostgreSQL's `clientcert`).
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Reads both PEM files and checks that the key is the certificate's.
    pub fn read(cert: &Path, key: &Path) -> Result<Identity, TrustError> {
        let chain = read_pem_certs(cert)?;
        let bytes = std::fs::read(key).map_err(|source| TrustError::Read {
            path: key.display().to_string(),
            source,
        })?;
        let no_key = || TrustError::NoKey {
            path: key.display().to_string(),
        };
        let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| no_key())?;
        // rustls refuses a key that does not belong to the certificate.
        rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider())?;
        Ok(Identity { chain, key })
    }
}

/// A client config with no ALPN set: each user offers its own (the provider
/// client h2 and HTTP/1.1, a WebSocket upstream HTTP/1.1 alone).
pub fn client_config(roots: RootCertStore) -> Result<ClientConfig, TrustError> {
    Ok(builder(roots)?.with_no_client_auth())
}

/// [`client_config`] presenting `identity` when the server asks.
pub fn client_config_with(
    roots: RootCertStore,
    identity: Identity,
) -> Result<ClientConfig, TrustError> {
    Ok(builder(roots)?.with_client_auth_cert(identity.chain, identity.key)?)
}

fn builder(
    roots: RootCertStore,
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, TrustError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}
